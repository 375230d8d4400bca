"""What becomes of a stored message: the worker that maps messages into dataset rows
(:mod:`~.worker`), failed records kept and replayed (:mod:`~.replay`), and the routes that show
messages and their outcomes (:mod:`~.traffic`)."""
