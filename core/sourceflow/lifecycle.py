"""Connect a source and tear it down: the front end of the reconcile engine for one source.

``connect`` brings one source's resources (base connection → source connection → target
connection → mapping → flow → endpoint) in line with a :class:`ConnectRequest`, through the
same engine as the project file (:mod:`sourceflow.engine`): a first run creates them, a re-run
resumes where a failed one stopped, and a re-run with other options updates in place or stops
saying what differs. ``teardown`` deletes what was created, in reverse order.

The core knows no source by name: what differs between sources comes from the hooks and from
the :class:`~sourceflow.hooktypes.Source` record (base connection or provider id, where the
inlet lives, which flow spec).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jsonschema
from attrs import define, field

from sourceflow import model
from sourceflow.client import FlowServiceClient
from sourceflow.engine import lock
from sourceflow.engine.reconcile import STEPS, Engine
from sourceflow.errors import InvalidBody, SourceflowError
from sourceflow.hooktypes import AuthSpec
from sourceflow.plugins import Registry
from sourceflow.state import Record, StateFile

if TYPE_CHECKING:
    from sourceflow.engine.reconcile import SourcePlan

__all__ = [
    "STEPS",
    "ConnectRequest",
    "Connected",
    "Lifecycle",
    "check_credentials",
    "with_defaults",
]


@define(kw_only=True)
class ConnectRequest:
    """What to connect.

    :param source: the source's name (``http``) or connection spec id.
    :param name: names the run and every resource it creates; re-running with the same name
        resumes.
    :param dataset_id: the target dataset (it must exist).
    :param credentials: auth params for the base connection (checked against the auth spec).
    :param mapping: a mapping set to apply; None asks the plugin for its defaults.
    :param object: the object or event type (Stripe resource path, Shopify topic), if any.
    :param tenant: tenant id for default mappings' ``_{tenant}`` namespace.
    :param schedule: when a scheduled source's flow runs (``scheduleParams``); None for
        streaming sources, and ``once`` at creation for scheduled ones (Adobe's default). A
        schedule without ``start_time`` starts when the flow is created.
    :param insecure_allow_unsigned: create a flow of a source that signs its deliveries
        (:attr:`~sourceflow.hooktypes.Source.delivery_secret`) even though its secret is not
        given; refused otherwise.
    :param webhook_base: the base URL of a ``sourceflow relay`` in front of the platform's
        inlets: the endpoint hook registers ``{webhook_base}/collection/{inletId}`` with the
        provider instead of the inlet itself (Shopify's subscriptions, Stripe's endpoint).
    """

    source: str
    name: str
    dataset_id: str
    credentials: dict[str, Any] = field(factory=dict)
    mapping: model.MappingSet | None = None
    object: str | None = None
    tenant: str = "sourceflow"
    auth_spec: str | None = None
    schedule: model.ScheduleParams | None = None
    insecure_allow_unsigned: bool = False
    webhook_base: str | None = None


@define(kw_only=True)
class Connected:
    """What ``connect`` produced: the ids, the inlet and what the endpoint hook reported."""

    name: str
    source: str
    ids: dict[str, str]
    inlet_url: str | None
    inlet_id: str | None
    flow_id: str
    authentication_required: bool
    endpoint_facts: dict[str, Any]
    resumed: list[str]
    plan: SourcePlan | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready summary for ``--json`` output."""
        return {
            "name": self.name,
            "source": self.source,
            "ids": self.ids,
            "flowId": self.flow_id,
            "inletUrl": self.inlet_url,
            "inletId": self.inlet_id,
            "authenticationRequired": self.authentication_required,
            "endpoint": self.endpoint_facts,
            "resumed": self.resumed,
            "changes": [c.as_json() for c in self.plan.pending] if self.plan else [],
        }


Progress = Callable[[str, str, str], None]
"""Called as ``progress(step, status, detail)``; status: ``created``, ``updated``, ``reused``,
``deleted``, ``warning``."""


def _quiet(step: str, status: str, detail: str) -> None:
    pass


class Lifecycle:
    """``connect`` and ``teardown`` for one source at a time: a front end to the reconcile
    engine (:class:`sourceflow.engine.Engine`), which the project file drives too."""

    def __init__(
        self,
        client: FlowServiceClient,
        registry: Registry,
        state: StateFile,
        *,
        progress: Progress = _quiet,
    ) -> None:
        self.client = client
        self.registry = registry
        self.state = state
        self.progress = progress
        self.engine = Engine(client, registry, state, progress=progress)

    def connect(self, request: ConnectRequest, *, allow_replace: bool = False) -> Connected:
        """Create what a source needs to deliver into a dataset, or bring what an earlier run
        created in line with ``request``.

        A change the API makes in place (another dataset, an authenticated inlet, new params,
        another mapping) is applied and reported in ``Connected.plan``; one that needs a new
        resource raises :class:`~sourceflow.engine.ChangeRefused` naming what differs, unless
        ``allow_replace``. Holds the local lock of ``request.name`` while it runs.
        """
        with lock.held(self.client.settings, request.name, waiting=self._waiting):
            record = self.engine.record_for(request, None)
            if record.project is not None:
                raise SourceflowError(
                    f"{request.name!r} belongs to the project {record.project!r}",
                    hint="change it in that project's sourceflow.toml and run sourceflow apply",
                )
            _, connected = self.engine.apply(request, allow_replace=allow_replace)
        return connected

    def _waiting(self, path: Any) -> None:
        self.progress("lock", "waiting", f"another run holds {path}")

    def teardown(self, record: Record) -> list[str]:
        """Delete what ``record`` holds, newest first; returns the steps undone.

        Mapping sets stay: Data Prep has no delete. A resource already gone counts as deleted.
        """
        with lock.held(self.client.settings, record.name, waiting=self._waiting):
            return self.engine.teardown(record)


def endpoint_url(record: Record) -> str:
    """The inlet URL recorded for a run, or an empty string."""
    return str(record.endpoint.get("inletUrl", ""))


# Streaming auth specs name the connection twice (``name``, ``sourceId``); a run has a name.
_NAMED_BY_RUN = ("name", "sourceId")


def with_defaults(spec: AuthSpec, credentials: Mapping[str, Any], run_name: str) -> dict[str, Any]:
    """``credentials`` completed from the auth spec: its JSON-schema ``default`` values, and
    the run's name for ``name``/``sourceId`` properties, where the caller gave none."""
    filled = dict(credentials)
    for key, prop in (spec.spec.get("properties") or {}).items():
        if key in filled or not isinstance(prop, dict):
            continue
        if key in _NAMED_BY_RUN and prop.get("type") == "string":
            filled[key] = run_name
        elif "default" in prop and key in spec.spec.get("required", []):
            filled[key] = prop["default"]
    return filled


def check_credentials(spec: AuthSpec, credentials: Mapping[str, Any]) -> None:
    """Check auth params against the auth spec's JSON schema; name every bad field.

    Secret values are never echoed: messages name the field and the rule only.
    """
    validator = jsonschema.Draft7Validator(spec.spec)
    problems = []
    for error in sorted(validator.iter_errors(dict(credentials)), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path) or "(params)"
        problems.append(f"{where}: {_rule(error)}")
    if problems:
        raise InvalidBody(f"credentials for {spec.name!r}", problems)


def _rule(error: jsonschema.ValidationError) -> str:
    # jsonschema's own messages quote the offending value, which may be a secret.
    if error.validator == "required":
        return str(error.message).replace(" is a required property", " is required")
    if error.validator == "enum":
        return "must be one of " + ", ".join(map(str, error.validator_value))
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    if error.validator == "additionalProperties":
        return "unknown field(s): " + str(error.message).split("(")[-1].rstrip(")")
    if error.validator == "minLength":
        return "must not be empty"
    return f"breaks the {error.validator!r} rule"
