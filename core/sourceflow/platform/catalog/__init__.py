"""Adobe's Catalog API: the ``/dataSets`` and batch routes (:mod:`~.routes`) and Catalog's
own list parameters (:mod:`~.query`)."""
