"""Incremental reads of one resource path, resumable from a cursor.

Stripe lists newest first and filters on ``created`` (epoch seconds). A run asks for
``created[gte]`` the newest ``created`` the last run saw, so an object created in that same
second after the last run is not missed; the ids the last run already saw in that second are
skipped, so nothing is read twice. The cursor is ``{"createdGte": seconds, "idsAtCursor":
[ids]}``; it is filled in once the last page has been read, and the platform stores it only
when the run commits, so a run that fails is read again from the old cursor.

Objects that change after they were read (a charge refunded later) keep their ``created`` and
are not read again: the cursor follows creation, as Stripe's ``created`` filter does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sourceflow.hooktypes import ReadResult

# The plugin reads RESOURCES when it is loaded; the client (httpx, tenacity) is the caller's.
if TYPE_CHECKING:
    from sourceflow_stripe.api import StripeAPI

RESOURCES = (
    "charges",
    "subscriptions",
    "refunds",
    "balance_transactions",
    "customers",
    "prices",
)

# Stripe leaves canceled subscriptions out of the list unless asked for every status.
LIST_PARAMS: dict[str, dict[str, Any]] = {"subscriptions": {"status": "all"}}


def wrap(obj: Any) -> dict[str, Any]:
    """One record as a flow reads it: the Stripe object under ``data``."""
    return {"data": obj}


def read(api: StripeAPI, resource: str, state: Mapping[str, Any]) -> ReadResult:
    """Read ``resource`` from the cursor in ``state``; the returned state is filled as the
    records are consumed and complete once the last one has been."""
    cursor = state.get("createdGte")
    cursor = cursor if isinstance(cursor, int) else None
    seen = set(state.get("idsAtCursor") or []) if cursor is not None else set()
    following: dict[str, Any] = dict(state)

    def records() -> Iterator[dict[str, Any]]:
        newest, at_newest = cursor, set(seen)
        params = dict(LIST_PARAMS.get(resource, {}))
        if cursor is not None:
            params["created[gte]"] = cursor
        for obj in api.iter_list(resource, params):
            created = obj.get("created") if isinstance(obj, dict) else None
            oid = obj.get("id") if isinstance(obj, dict) else None
            if cursor is not None and created == cursor and oid in seen:
                continue
            if isinstance(created, int) and not isinstance(created, bool):
                if newest is None or created > newest:
                    newest, at_newest = created, {oid}
                elif created == newest:
                    at_newest.add(oid)
            yield wrap(obj)
        if newest is not None:
            following.update(createdGte=newest, idsAtCursor=sorted(str(i) for i in at_newest))

    return ReadResult(records=records(), state=following)
