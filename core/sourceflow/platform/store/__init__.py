"""The platform's one SQLite file: the store every part reads and writes through
(:mod:`~.sqlite`) and the schema migrations applied when it opens (:mod:`~.migrations`)."""
