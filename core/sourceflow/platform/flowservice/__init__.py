"""Adobe's Flow Service API: the routes for connections, source and target connections and
flows (:mod:`~.routes`), what a stored resource document holds (:mod:`~.resources`), the
cross-checks between resources (:mod:`~.checks`), the connection and flow specs the plugins
declare (:mod:`~.specs`), and a connection's explore (:mod:`~.explore`)."""
