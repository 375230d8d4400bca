"""Benchmark (not a test): the mapping engine against glom and against hand-written code.

The Chatlio (new conversation) and Stripe charges default mapping sets, from the plugins, on
their sample payloads (``sourceflow/demo_data/chatlio_events.jsonl``, the Stripe plugin's
``sample_data/objects.json``). Three transforms of the same rules, checked to give the same
rows first: the compiled mapping; a straightforward glom transform (``glom(record,
Coalesce(source, default=None))`` then ``assign(row, destination, value, missing=dict)`` per
rule; for plain field rules only); and a hand-written function, in the style one would write
it (``.get`` per field). A third set mixes expressions into the Chatlio fields:
``lower(trim(..))``, ``concat(..)``, ``iif(..)``. The compiled mapping is timed twice: with
Data Prep functions inlined (the default) and calling their generic helpers
(``inline=False``). Records/s is the best of several timed rounds, the transforms interleaved
so that load from elsewhere hits each alike; read the ratios, not the absolute rates, on a
shared machine.

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
GOALS = {"vs_glom": 10.0, "vs_hand": 0.8, "expressions_vs_hand": 1.0}


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


def expression_rules(tenant: str) -> list[MappingRule]:
    """Ten rules on a Chatlio event: seven fields and three expressions."""
    fields = [
        ("visitor.UUID", "UUID"),
        ("slackChannelId", "slackchannel_ID"),
        ("slackChannelName", "slackchannel_name"),
        ("message", "message"),
        ("channelId", "channel_ID"),
        ("conversationUUID", "conversation_ID"),
        ("visitor.currentPage", "current_page"),
    ]
    expressions = [
        ("lower(trim(visitor.email))", "email"),
        ('concat(visitor.name, " <", visitor.email, ">")', "from"),
        ('iif(visitor.identUserId == "", "anonymous", "identified")', "visitor_kind"),
    ]
    base = f"_{tenant}."
    return [
        MappingRule(
            source_attribute=source,
            destination_xdm_path=base + dest,
            source_type="ATTRIBUTE",
            identity=source == "visitor.UUID",
        )
        for source, dest in fields
    ] + [
        MappingRule(
            source_attribute=source, destination_xdm_path=base + dest, source_type="EXPRESSION"
        )
        for source, dest in expressions
    ]


def hand_expressions(event: dict[str, Any]) -> dict[str, Any]:
    """The same ten rules, as one would write them by hand."""
    visitor = event.get("visitor") or {}
    uuid = visitor.get("UUID")
    if uuid is None:
        raise ValueError("visitor.UUID is the identity")
    out: dict[str, Any] = {"UUID": uuid}
    _put(out, "slackchannel_ID", event.get("slackChannelId"))
    _put(out, "slackchannel_name", event.get("slackChannelName"))
    _put(out, "message", event.get("message"))
    _put(out, "channel_ID", event.get("channelId"))
    _put(out, "conversation_ID", event.get("conversationUUID"))
    _put(out, "current_page", visitor.get("currentPage"))
    email = visitor.get("email")
    if email is not None:
        out["email"] = email.strip().lower()
    out["from"] = f"{visitor.get('name') or ''} <{email or ''}>"
    out["visitor_kind"] = "anonymous" if visitor.get("identUserId") == "" else "identified"
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
        ("chatlio, 3 of 10 rules expressions", expression_rules(TENANT), events, hand_expressions),
    ]


def rates(
    transforms: dict[str, Callable[[Any], Any]], records: list[Any], budget: float = 0.04
) -> dict[str, float]:
    """Records/s of each transform: the best of 25 rounds of about ``budget`` seconds each,
    the transforms taking turns round by round so that load from elsewhere hits each alike."""
    timers = {}
    for name, transform in transforms.items():

        def run(transform: Callable[[Any], Any] = transform) -> None:
            for r in records:
                transform(r)

        timer = timeit.Timer(run)
        number, took = timer.autorange()
        timers[name] = (timer, max(1, int(number * budget / took)))
    best = dict.fromkeys(transforms, float("inf"))
    for _ in range(25):
        for name, (timer, number) in timers.items():
            best[name] = min(best[name], timer.timeit(number) / number)
    return {name: len(records) / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "goals": GOALS, "cases": []}
    rows = []
    for name, rules, records, hand in cases():
        compiled = compile_mapping(MappingSet(mappings=rules))
        generic = compile_mapping(MappingSet(mappings=rules), inline=False)
        plain = all(r.source_type == "ATTRIBUTE" for r in rules)
        by_glom = glom_transform(rules) if plain else None
        for r in records:
            assert compiled(r) == generic(r) == hand(r), f"{name}: they disagree on {r}"
            assert by_glom is None or by_glom(r) == hand(r), f"{name}: glom disagrees on {r}"
        transforms = {"compiled": compiled, "hand": hand}
        if generic.python_source != compiled.python_source:  # else the same code
            transforms["generic"] = generic
        if by_glom is not None:
            transforms["glom"] = by_glom
        figures: dict[str, Any] = {"rules": len(rules), "records": len(records)}
        for key, per_s in rates(transforms, records).items():
            figures[f"{key}_per_s"] = per_s
        figures["vs_glom"] = figures["compiled_per_s"] / figures["glom_per_s"] if by_glom else None
        figures["vs_hand"] = figures["compiled_per_s"] / figures["hand_per_s"]
        figures["generic_vs_hand"] = (
            figures["generic_per_s"] / figures["hand_per_s"] if "generic_per_s" in figures else None
        )
        result["cases"].append({"name": name, **figures})
        rows.append(
            [
                name,
                len(rules),
                figures["compiled_per_s"],
                figures.get("glom_per_s", "-"),
                figures["hand_per_s"],
                f"{figures['vs_glom']:.0f}x" if figures["vs_glom"] else "-",
                f"{figures['vs_hand']:.2f}x",
                f"{figures['generic_vs_hand']:.2f}x" if figures["generic_vs_hand"] else "same code",
            ]
        )
    table(
        rows,
        [
            *("mapping set", "rules", "compiled/s", "glom/s", "hand/s"),
            *("vs glom", "vs hand", "not inlined vs hand"),
        ],
    )
    write("mapping", result, args.out)


if __name__ == "__main__":
    main()
