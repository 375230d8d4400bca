"""Which outbox a ``store`` URL names: SQLite on one machine (:mod:`.sqlite`) or PostgreSQL
for several replicas (:mod:`.postgres`). Both backends build on :mod:`.outbox`; picking one
lives here, above them, so the outbox never imports its own backends."""

from __future__ import annotations

from sourceflow.relay.outbox import Outbox


def open_outbox(url: str) -> Outbox:
    """The store a URL names: ``sqlite:PATH`` or ``postgresql://…``."""
    if url.startswith("sqlite:"):
        from sourceflow.relay.sqlite import SqliteOutbox  # psycopg's twin: load only the one used

        return SqliteOutbox(url.removeprefix("sqlite:").removeprefix("//"))
    from sourceflow.relay.postgres import PostgresOutbox  # psycopg is an optional extra

    return PostgresOutbox(url)
