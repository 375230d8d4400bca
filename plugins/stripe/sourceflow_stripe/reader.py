"""Incremental reads of one resource path, resumable from a cursor and from any page.

Stripe lists newest first and filters on ``created`` (epoch seconds). A run asks for
``created[gte]`` the newest ``created`` the last run saw, so an object created in that same
second after the last run is not missed; the ids the last run already saw in that second are
skipped, so nothing is read twice. The cursor is ``{"createdGte": seconds, "idsAtCursor":
[ids]}``.

A run reads in pages (``ReadResult.pages``), and each page carries the state to resume from
once its rows are written: the cursor above plus the pass in progress, ``"pass":
{"createdLte": T, "idsAtLte": [ids], "newest": N, "idsAtNewest": [ids]}``. A run that resumes
asks for ``created[lte]=T`` as well and skips the ids already read in second ``T``; it does not
use ``starting_after``, so ties in any order at either end, and an object deleted since, cannot
make it skip or repeat one. Objects created while a pass is under way are newer than where it
started: the next run's ``created[gte]`` reads them. The last page's state is the new cursor.

Objects that change after they were read (a charge refunded later) keep their ``created`` and
are not read again: the cursor follows creation, as Stripe's ``created`` filter does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import sourceflow

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

# The ``object`` field of each resource's objects (and of the objects in its events).
OBJECT_TYPES = {
    "charges": "charge",
    "subscriptions": "subscription",
    "refunds": "refund",
    "balance_transactions": "balance_transaction",
    "customers": "customer",
    "prices": "price",
}

# Stripe leaves canceled subscriptions out of the list unless asked for every status.
LIST_PARAMS: dict[str, dict[str, Any]] = {"subscriptions": {"status": "all"}}


def wrap(obj: Any) -> dict[str, Any]:
    """One record as a flow reads it: the Stripe object under ``data``."""
    return {"data": obj}


def _second(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ids(value: Any) -> set[str]:
    return {str(i) for i in value} if isinstance(value, list) else set()


def read(api: StripeAPI, resource: str, state: Mapping[str, Any]) -> sourceflow.ReadResult:
    """Read ``resource`` from the cursor (and any pass in progress) in ``state``, page by page,
    each page with the state to resume from after it."""
    from sourceflow_stripe.api import StripeBadData

    cursor = _second(state.get("createdGte"))
    seen = _ids(state.get("idsAtCursor")) if cursor is not None else set()
    found = state.get("pass")
    under_way: Mapping[str, Any] = found if isinstance(found, dict) else {}
    kept = {k: v for k, v in state.items() if k not in ("createdGte", "idsAtCursor", "pass")}

    def pages() -> Iterator[sourceflow.Page]:
        newest, at_newest = cursor, set(seen)
        lte, at_lte = _second(under_way.get("createdLte")), _ids(under_way.get("idsAtLte"))
        if lte is not None:
            newest, at_newest = _second(under_way.get("newest")), _ids(under_way.get("idsAtNewest"))
        params = dict(LIST_PARAMS.get(resource, {}))
        if cursor is not None:
            params["created[gte]"] = cursor
        if lte is not None:
            params["created[lte]"] = lte

        def where(done: bool) -> dict[str, Any]:
            if done:
                at = (newest, at_newest) if newest is not None else (cursor, seen)
            else:
                at = (cursor, seen)
            following = dict(kept)
            if at[0] is not None:
                following.update(createdGte=at[0], idsAtCursor=sorted(at[1]))
            if not done and lte is not None:
                following["pass"] = {
                    "createdLte": lte,
                    "idsAtLte": sorted(at_lte),
                    "newest": newest,
                    "idsAtNewest": sorted(at_newest),
                }
            return following

        for page in api.iter_pages(resource, params):
            records = []
            for obj in page:
                created, oid = _second(obj.get("created")), obj["id"]
                if created is None:
                    raise StripeBadData(
                        f"GET /v1/{resource} answered {oid} without a created time", status=200
                    )
                if lte is not None and created > lte:
                    raise StripeBadData(
                        f"GET /v1/{resource} listed {oid} (created {created}) after an object "
                        f"created {lte}: Stripe lists newest first",
                        status=200,
                    )
                repeat = (created == lte and oid in at_lte) or (created == cursor and oid in seen)
                if lte is None or created < lte:
                    lte, at_lte = created, {oid}
                else:
                    at_lte.add(oid)
                if repeat:
                    continue
                if newest is None or created > newest:
                    newest, at_newest = created, {oid}
                elif created == newest:
                    at_newest.add(oid)
                records.append(wrap(obj))
            yield sourceflow.Page(records=records, state=where(done=False))
        # The whole list is read: the newest object seen is the next run's cursor.
        yield sourceflow.Page(records=[], state=where(done=True))

    return sourceflow.ReadResult(pages=pages(), counters=api.counters)
