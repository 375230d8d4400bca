"""The demo's scheduled part: a Stripe flow pulling from a bundled sample Stripe API.

The sample API and its objects ship with the ``sourceflow-stripe`` plugin
(:mod:`sourceflow_stripe.sample`): objects written for sourceflow in the shapes of Stripe's API,
from no Stripe account. The flow is connected with a schedule (every 15 minutes, from now), so
the platform's scheduler starts its first run within a second; the section shows the run with
its metrics and the rows it wrote.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import click

from sourceflow import model
from sourceflow.client import FlowServiceClient
from sourceflow.errors import SourceflowError, UnknownSource
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.platform.server import background
from sourceflow.plugins import Registry

# A made-up test-mode key: the sample API accepts any sk_test_ key.
DEMO_KEY = "sk_test_sourceflow_demo_sample"
RUN_NAME = "demo-stripe"

Heading = Callable[[str], None]
Table = Callable[[Sequence[Sequence[Any]], Sequence[str]], None]


def stripe_demo(
    client: FlowServiceClient,
    lifecycle: Lifecycle,
    registry: Registry,
    *,
    heading: Heading,
    table: Table,
    number: int,
    timeout: float = 20.0,
) -> list[str]:
    """Run the Stripe section under heading ``number``; the run names to tear down."""
    try:
        registry.source("stripe")
        sample = importlib.import_module("sourceflow_stripe.sample")
    except (UnknownSource, ImportError):
        heading(f"{number}. Stripe: skipped (pip install sourceflow-stripe)")
        return []

    heading(f"{number}. Stripe: a scheduled flow pulling charges (SAMPLE DATA, no Stripe account)")
    with ExitStack() as stack:
        api = stack.enter_context(background(sample.app()))
        click.echo(
            f"  sample Stripe API on {api}: objects in Stripe's shapes, made up for the demo"
        )
        dataset = client.datasets.create(
            model.Dataset(
                name="demo stripe charges",
                schema_ref=model.XdmSchemaRef(
                    id="https://ns.adobe.com/sourceflow/schemas/demo-stripe-charges"
                ),
            )
        )
        connected = lifecycle.connect(
            ConnectRequest(
                source="stripe",
                name=RUN_NAME,
                dataset_id=dataset,
                credentials={"accessToken": DEMO_KEY, "apiBase": api},
                object="charges",
                schedule=model.ScheduleParams(
                    start_time=int(time.time()), frequency="minute", interval=15
                ),
            )
        )
        click.echo(f"  flow {connected.flow_id}: every 15 minutes from now; the first run is due")
        run = _first_run(client, connected.flow_id, timeout)
    metrics = run.metrics
    assert metrics is not None
    rec, took = metrics.record_summary, metrics.duration_summary
    seconds = ((took.completed_at_utc or 0) - (took.started_at_utc or 0)) / 1000
    table(
        [
            (
                run.id,
                metrics.status_summary.status,
                rec.input_record_count,
                rec.output_record_count,
                rec.failed_record_count,
                f"{seconds:.2f}s",
            )
        ],
        ["RUN", "STATUS", "READ", "WRITTEN", "FAILED", "TOOK"],
    )
    rows = client.dataset_rows(dataset)
    shown = []
    for row in rows[:8]:
        charge = row["record"].get("_sourceflow", {}).get("charges_data", {})
        card = charge.get("payment_method_details", {}).get("card", {})
        shown.append(
            (
                charge.get("id"),
                charge.get("amount"),
                charge.get("currency"),
                charge.get("status"),
                card.get("brand"),
                card.get("last4"),
                charge.get("billing_details", {}).get("name"),
            )
        )
    table(shown, ["CHARGE", "AMOUNT", "CURRENCY", "STATUS", "BRAND", "LAST4", "NAME"])
    click.echo(
        f"  {len(rows)} row(s) in the dataset; sourceflow runs {connected.flow_id} lists runs"
    )
    return [RUN_NAME]


def _first_run(client: FlowServiceClient, flow_id: str, timeout: float) -> model.Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(client.runs.list(property=f"flowId=={flow_id}"))
        done = [r for r in found if r.metrics and r.metrics.status_summary.status != "inProgress"]
        if done:
            return done[0]
        time.sleep(0.1)
    raise SourceflowError(
        f"the first run of flow {flow_id} did not finish within {timeout:.0f} s",
        hint="see sourceflow runs FLOW_ID",
    )
