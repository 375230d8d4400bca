"""The local Flow Service: Adobe's Flow Service, Data Prep, Catalog and inlet APIs on one
machine, stored in one SQLite file.

Where things live:

- ``app`` builds the Starlette app from the route classes; ``server`` serves it (uvicorn, or a
  background thread for tests); ``core`` holds :class:`~.core.Platform`, the state every part
  shares (settings, store, tokens, directory, workers);
- ``http``: what every route shares: calls and answers, problems, IMS tokens and the gateway
  check, listing queries, exact JSON, metrics;
- ``flowservice``: the Flow Service API (connections, flows, specs, explore, cross-checks);
- ``catalog``: the Catalog API (datasets, batches); ``dataprep``: the Data Prep API;
- ``ingress``: the one ingress pipeline, the inlet's routes, group commit, the inlet directory;
- ``ingest``: the worker that maps stored messages into rows, replay, message and outcome routes;
- ``runs``: runs of scheduled flows, their routes and the scheduler;
- ``store``: the SQLite store and its migrations;
- ``console``: the web console at ``/console``.
"""
