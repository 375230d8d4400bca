"""sourceflow embedded in a host application: the example that docs/host-apps.md walks through.

- :mod:`host_app.forms`: a source's auth forms from its connection spec's JSON schemas;
  rendering (text, HTML), coercion of typed input, validation with field-level messages.
- :mod:`host_app.audit`: an observer plugin that logs every lifecycle step.
- :mod:`host_app.app`: the application: list the sources, render and check forms, connect a
  source through :class:`sourceflow.lifecycle.Lifecycle`, send a record, handle a failure,
  tear down.
"""
