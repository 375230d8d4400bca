"""Runs of scheduled (batch) flows: the ``/runs`` routes (:mod:`~.routes`), a run's record in
the store (:mod:`~.records`), and the scheduler that starts runs when they are due and
executes them (:mod:`~.scheduler`)."""
