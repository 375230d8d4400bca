"""``sourceflow relay``: the verified edge in front of Adobe's streaming inlet.

Adobe's inlet checks no provider signature and removes no redelivered duplicates. The relay
takes a provider's webhooks on the same paths as Adobe's inlet (``POST /collection/{inletId}``
and ``POST /collection/batch/{inletId}``), runs them through the one ingress pipeline
(:mod:`sourceflow.platform.ingress.pipeline`: limits, flow, the plugin's signature check,
de-duplication), stores each one in a durable outbox before it answers, and forwards the outbox
to the flow's Adobe inlet in batches, with retries (:mod:`.forwarder`).

- :mod:`.config`: which flows it fronts (a TOML file, ``connect``'s state file), secrets as
  environment variable references;
- :mod:`.outbox`: the outbox, the de-duplication window and the dead letters, in SQLite on one
  machine (:mod:`.sqlite`) or PostgreSQL for several replicas (:mod:`.postgres`);
- :mod:`.stores`: which of the two a ``store`` URL names;
- :mod:`.app`: the ASGI app (the collection routes, ``/healthz``) and its lifecycle.
"""
