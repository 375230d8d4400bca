"""The way in for streamed messages: the one ingress pipeline shared with the relay
(:mod:`~.pipeline`), the local inlet's ``/collection`` routes on it (:mod:`~.inlet`), the
group commit that makes an acknowledged message durable (:mod:`~.commits`), and the directory
of inlets and the flows they feed (:mod:`~.directory`)."""
