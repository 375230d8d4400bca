"""What becomes of a stored message: the worker that maps messages into dataset rows
(:mod:`~.worker`, in a thread, or in a process of its own so that a second core maps:
:mod:`~.process`), failed records kept and replayed (:mod:`~.replay`), and the routes that show
messages and their outcomes (:mod:`~.traffic`)."""
