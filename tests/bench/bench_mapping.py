"""Benchmark (not a test): the mapping engine against glom and against hand-written code.

The Chatlio (new conversation) and Stripe charges default mapping sets, from the plugins, on
their sample payloads (``sourceflow/demo_data/chatlio_events.jsonl``, the Stripe plugin's
``sample_data/objects.json``). Three transforms of the same rules, checked to give the same
rows first: the compiled mapping; a straightforward glom transform (``glom(record,
Coalesce(source, default=None))`` then ``assign(row, destination, value, missing=dict)`` per
rule); and a hand-written function. Records/s is the best of several timed rounds.

    python tests/bench/bench_mapping.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import machine, table, write  # noqa: E402
from glom import Coalesce, assign, glom  # noqa: E402

from sourceflow.mapping import compile_mapping  # noqa: E402
from sourceflow.model import MappingRule, MappingSet  # noqa: E402
from sourceflow_chatlio import plugin as chatlio  # noqa: E402
from sourceflow_stripe import mappings as stripe_mappings  # noqa: E402

TENANT = "sourceflow"
GOALS = {"vs_glom": 10.0, "vs_hand": 0.8}


def glom_transform(rules: list[MappingRule]) -> Callable[[Any], dict[str, Any]]:
    """The rules as glom specs, applied one by one."""
    specs = [(Coalesce(r.source_attribute, default=None), r.destination_xdm_path) for r in rules]

    def transform(record: Any) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for spec, dest in specs:
            value = glom(record, spec)
            if value is not None:
                assign(row, dest, value, missing=dict)
        return row

    return transform


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def hand_chatlio(event: dict[str, Any]) -> dict[str, Any]:
    """Chatlio's new-conversation rules, written by hand."""
    visitor = event.get("visitor") or {}
    if visitor.get("UUID") is None:
        raise ValueError("visitor.UUID is the identity")
    out: dict[str, Any] = {}
    _put(out, "slackchannel_ID", event.get("slackChannelId"))
    _put(out, "slackchannel_name", event.get("slackChannelName"))
    out["UUID"] = visitor["UUID"]
    _put(out, "chatlio_email", visitor.get("email"))
    _put(out, "message", event.get("message"))
    _put(out, "channel_ID", event.get("channelId"))
    _put(out, "conversation_ID", event.get("conversationUUID"))
    _put(out, "visitor_name", visitor.get("name"))
    _put(out, "ident_user_ID", visitor.get("identUserId"))
    _put(out, "current_page", visitor.get("currentPage"))
    _put(out, "referrer_URL", visitor.get("referrerURL"))
    _put(out, "location", visitor.get("location"))
    _put(out, "visitor_created_at", visitor.get("createdAt"))
    return {"_" + TENANT: out}


_CHARGE = tuple(
    [
        "id",
        "object",
        "amount",
        "amount_captured",
        "amount_refunded",
        "currency",
        "status",
        "customer",
        "created",
        "description",
        "paid",
        "refunded",
        "disputed",
        "captured",
        "livemode",
        "receipt_email",
        "failure_code",
        "failure_message",
        "payment_intent",
        "balance_transaction",
    ]
)
_ADDRESS = ("city", "country", "line1", "line2", "postal_code", "state")
_CARD = ("brand", "last4", "exp_month", "exp_year", "country", "funding")
_OUTCOME = ("type", "network_status", "reason", "risk_level", "seller_message")


def _pick(source: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k in keys if (v := source.get(k)) is not None}


def hand_charge(record: dict[str, Any]) -> dict[str, Any]:
    """Stripe charges' rules, written by hand."""
    charge = record.get("data") or {}
    out = {k: v for k in _CHARGE if (v := charge.get(k)) is not None}
    billing = charge.get("billing_details") or {}
    b = _pick(billing, ("name", "email", "phone"))
    if address := _pick(billing.get("address") or {}, _ADDRESS):
        b["address"] = address
    if b:
        out["billing_details"] = b
    method = charge.get("payment_method_details") or {}
    m = _pick(method, ("type",))
    if card := _pick(method.get("card") or {}, _CARD):
        m["card"] = card
    if m:
        out["payment_method_details"] = m
    if outcome := _pick(charge.get("outcome") or {}, _OUTCOME):
        out["outcome"] = outcome
    return {"_" + TENANT: {"charges_data": out}}


def cases() -> list[tuple[str, list[MappingRule], list[Any], Callable[[Any], dict[str, Any]]]]:
    text = resources.files("sourceflow.demo_data").joinpath("chatlio_events.jsonl").read_text()
    events = [json.loads(line) for line in text.splitlines() if line]
    objects = Path(stripe_mappings.__file__).parent / "sample_data" / "objects.json"
    charges = [{"data": c} for c in json.loads(objects.read_text())["charges"]]
    chatlio_rules = chatlio.sourceflow_mapping_defaults(source=None, object=None, tenant=TENANT)
    charge_rules = stripe_mappings.default_rules("charges", TENANT)
    return [
        ("chatlio (new_conversation)", chatlio_rules, events, hand_chatlio),
        ("stripe charges", charge_rules, charges, hand_charge),
    ]


def rate(transform: Callable[[Any], Any], records: list[Any], budget: float = 0.4) -> float:
    """Records/s, the best of 5 rounds of about ``budget`` seconds."""

    def run() -> None:
        for r in records:
            transform(r)

    timer = timeit.Timer(run)
    number, _ = timer.autorange()
    number = max(1, int(number * budget / 0.2))
    best = min(timer.repeat(repeat=5, number=number))
    return len(records) * number / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "goals": GOALS, "cases": []}
    rows = []
    for name, rules, records, hand in cases():
        compiled = compile_mapping(MappingSet(mappings=rules))
        by_glom = glom_transform(rules)
        for r in records:
            assert compiled(r) == by_glom(r) == hand(r), f"{name}: the three disagree on {r}"
        figures = {
            "rules": len(rules),
            "records": len(records),
            "compiled_per_s": rate(compiled, records),
            "glom_per_s": rate(by_glom, records),
            "hand_per_s": rate(hand, records),
        }
        figures["vs_glom"] = figures["compiled_per_s"] / figures["glom_per_s"]
        figures["vs_hand"] = figures["compiled_per_s"] / figures["hand_per_s"]
        result["cases"].append({"name": name, **figures})
        rows.append(
            [
                name,
                len(rules),
                figures["compiled_per_s"],
                figures["glom_per_s"],
                figures["hand_per_s"],
                f"{figures['vs_glom']:.1f}x",
                f"{figures['vs_hand']:.2f}x",
            ]
        )
    table(rows, ["mapping set", "rules", "compiled/s", "glom/s", "hand/s", "vs glom", "vs hand"])
    write("mapping", result, args.out)


if __name__ == "__main__":
    main()
