"""The HTTP layer every route shares: the :class:`~.web.Call` a handler gets and the routes
it returns (:mod:`~.web`), RFC 9457 problem answers (:mod:`~.problems`), IMS tokens and the
gateway check (:mod:`~.auth`), Flow Service listing queries (:mod:`~.query`), exact JSON in
and fast JSON out (:mod:`~.jsonbytes`), and ``GET /metrics`` with the access log
(:mod:`~.metrics`)."""
