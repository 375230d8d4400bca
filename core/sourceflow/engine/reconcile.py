"""The reconcile engine: one source's desired resources → a plan → the platform made to match.

Both ``connect`` and the project file drive this one walk. For a source it visits, in order,
the base connection, source connection, target connection, mapping set, flow and endpoint,
and for each it compares what the source declares with what the platform holds:

- **create** what is missing (found first by name, so a resource created by a run that died
  before recording it is adopted, not duplicated);
- **update in place** what differs in a field the API lets a PATCH change, with ``If-Match``
  (a ``412`` re-reads and tries again);
- **replace** what differs in a field fixed at creation (``connectionSpec``,
  ``baseConnectionId``, ``flowSpec`` …), deleting its dependents first so nothing is orphaned;
- report **drift**: where the platform no longer holds what was last applied (a PATCH through
  the API, an edit in Adobe's UI).

``plan`` is the same walk without writes. Every id is recorded as soon as it exists, so an
apply that fails anywhere resumes on the next run. Races between machines (no lock reaches
across them) are settled by name after the fact: of two resources with one name and the same
parents, the older wins (``createdAt``, then id) and the loser deletes what it created.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import attrs
from attrs import define, field

from sourceflow import model, wire
from sourceflow.client import FlowServiceClient, MappingSets
from sourceflow.engine.credentials import check_credentials, with_defaults
from sourceflow.engine.diff import (
    RULES,
    describe,
    differences,
    patch_ops,
    project,
    secret_hash,
    without_start,
)
from sourceflow.errors import BadRequest, Conflict, NotFound, SourceflowError, Unavailable
from sourceflow.hooktypes import DATA_LAKE_SPEC_ID, Endpoint, Source, SourceParams, Step
from sourceflow.plugins import Registry
from sourceflow.state import Record, StateFile

STEPS = ("base_connection", "source_connection", "target_connection", "mapping", "flow", "endpoint")
FLOW_SERVICE_STEPS = ("base_connection", "source_connection", "target_connection", "flow")
# What must go before a resource can be replaced or deleted: whatever refers to it.
DEPENDENTS = {
    "base_connection": ("endpoint", "flow", "source_connection"),
    "source_connection": ("endpoint", "flow"),
    "target_connection": ("endpoint", "flow"),
    "flow": ("endpoint",),
}
PATCH_TRIES = 5
SETTLE_ROUNDS = 3

Progress = Callable[[str, str, str], None]
"""Called as ``progress(step, status, detail)``; status: ``created``, ``updated``,
``replaced``, ``reused``, ``deleted``, ``warning``."""


def _quiet(step: str, status: str, detail: str) -> None:
    pass


@define(kw_only=True)
class Change:
    """What a plan does to one resource.

    :param action: ``create``, ``update`` (in place), ``replace``, ``delete`` or ``unchanged``.
    :param changes: ``path: old → new`` lines (secrets shown as ``(a secret)``).
    :param drift: where the platform differs from what was last applied, or that the resource
        was deleted outside sourceflow.
    :param reason: why a replace cannot be an update (the field fixed at creation).
    """

    name: str
    step: str
    action: str
    id: str | None = None
    changes: list[str] = field(factory=list)
    drift: list[str] = field(factory=list)
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view for ``--json``."""
        return {
            "name": self.name,
            "step": self.step,
            "action": self.action,
            "id": self.id,
            "changes": self.changes,
            "drift": self.drift,
            "reason": self.reason,
        }


@define(kw_only=True)
class SourcePlan:
    """The plan for one source: a change per resource, and notes (warnings) to show."""

    name: str
    source: str
    changes: list[Change] = field(factory=list)
    notes: list[str] = field(factory=list)

    @property
    def pending(self) -> list[Change]:
        """The changes that would write something."""
        return [c for c in self.changes if c.action != "unchanged"]

    @property
    def drifted(self) -> list[Change]:
        """The resources that drifted."""
        return [c for c in self.changes if c.drift]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view for ``--json``."""
        return {
            "name": self.name,
            "source": self.source,
            "changes": [c.as_json() for c in self.changes],
            "notes": self.notes,
        }


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


class ChangeRefused(SourceflowError):
    """A run would replace resources it was not allowed to (``connect`` without
    ``--replace``); the message lists what differs."""


@define(kw_only=True)
class _Desired:
    """What a request asks for, worked out once (hooks called once) per reconcile."""

    source: Source
    dataset: model.Dataset
    auth: model.Auth | None
    params: SourceParams
    mapping: model.MappingSet | None
    flow_spec: str


@define(kw_only=True)
class _Walk:
    request: ConnectRequest
    desired: _Desired
    record: Record
    write: bool
    plan: SourcePlan
    allow_replace: bool = True
    ids: dict[str, str] = field(factory=dict)
    actions: dict[str, str] = field(factory=dict)


class Engine:
    """Plans and applies sources against the Flow Service the client points at.

    :param client: the Flow Service client (local platform or Adobe's).
    :param registry: the plugins, whose hooks build each source's resources.
    :param state: where ids and what was applied are recorded.
    :param progress: told of each step as it completes.
    """

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
        # Datasets a plan takes as given before they exist (a project's, created by apply).
        self.known_datasets: dict[str, model.Dataset] = {}

    # --- one source ---------------------------------------------------------------------------

    def record_for(self, request: ConnectRequest, owner: str | None) -> Record:
        """The record of ``request.name`` on this platform, a new one if there is none."""
        settings = self.client.settings
        self.state.reload()
        record = self.state.get(request.name, settings.platform_url, settings.sandbox)
        if record is None:
            return Record(
                name=request.name,
                source=self.registry.source(request.source).name,
                platform_url=settings.platform_url,
                sandbox=settings.sandbox,
                project=owner,
            )
        return record

    def plan(
        self, request: ConnectRequest, *, owner: str | None = None, fresh: bool = False
    ) -> SourcePlan:
        """What applying ``request`` would do, without writing anything; ``fresh`` plans as if
        nothing were recorded (for a source about to be deleted and made again)."""
        record = self.record_for(request, owner)
        if fresh:
            record = Record(
                name=record.name,
                source=self.registry.source(request.source).name,
                platform_url=record.platform_url,
                sandbox=record.sandbox,
                project=owner,
            )
        desired = self._desired(request, record)
        walk = self._new_walk(request, desired, record, write=False)
        self._walk(walk)
        return walk.plan

    def apply(
        self,
        request: ConnectRequest,
        *,
        owner: str | None = None,
        allow_replace: bool = True,
    ) -> tuple[SourcePlan, Connected]:
        """Make the platform hold what ``request`` declares; answers what was done.

        :param owner: the project that owns the source (recorded), None for ``connect``.
        :param allow_replace: False stops with :class:`ChangeRefused`, before any write, when
            a resource would have to be replaced.
        """
        record = self.record_for(request, owner)
        if owner is not None:
            record.project = owner
        desired = self._desired(request, record)
        if not allow_replace:
            dry = self._new_walk(request, desired, record, write=False)
            self._walk(dry)
            refused = [c for c in dry.plan.changes if c.action == "replace"]
            if refused:
                raise ChangeRefused(_refusal(request.name, dry.plan), hint=_REPLACE_HINT)
        walk = self._new_walk(request, desired, record, write=True)
        for round_ in range(SETTLE_ROUNDS):
            try:
                self._walk(walk)
            except NotFound:
                # A resource this walk adopted from a racer is gone: that racer lost higher
                # up the chain and gave its chain up. Walk again: it finds what is there now.
                if round_ == SETTLE_ROUNDS - 1:
                    raise
            except BadRequest:
                # Creating a child of such a resource answers 400, not 404 ("no base
                # connection ..."). Only then walk again: a request bad in itself must fail
                # once, not be sent again with the whole chain walked before it.
                if round_ == SETTLE_ROUNDS - 1 or not self._lost_parent(walk):
                    raise
            else:
                if not self._settle(walk):
                    break
            walk = self._new_walk(request, desired, record, write=True, plan=walk.plan)
        return walk.plan, self._connected(walk)

    def _new_walk(
        self,
        request: ConnectRequest,
        desired: _Desired,
        record: Record,
        *,
        write: bool,
        plan: SourcePlan | None = None,
    ) -> _Walk:
        return _Walk(
            request=request,
            desired=desired,
            record=record,
            write=write,
            plan=plan or SourcePlan(name=request.name, source=desired.source.name),
        )

    def _desired(self, request: ConnectRequest, record: Record) -> _Desired:
        source = self.registry.source(request.source)
        if record.source != source.name:
            raise SourceflowError(
                f"{request.name!r} was connected as source {record.source!r}, not {source.name!r}",
                hint="choose another name, or tear the old one down first",
            )
        dataset = self._dataset(request.dataset_id)
        auth = self._authenticate(source, request)
        params = self._source_params(source, request.object, request.credentials)
        # After the plugin has checked the params: a typo is the better first message.
        # What the flow will hold (the plugin may fill the secret in from its environment).
        held = {**(auth.params if auth else {}), **(params.params or {})}
        self._fail_closed(source, request, held)
        mapping = self._mapping(source, request, dataset)
        flow_spec = (
            source.mapping_flow_spec
            if mapping is not None and source.mapping_flow_spec
            else source.flow_specs[0].id
            if source.flow_specs
            else None
        )
        if flow_spec is None:
            raise SourceflowError(
                f"source {source.name!r} declares no flow spec",
                hint="its plugin must list flow_specs in sourceflow_sources",
            )
        return _Desired(
            source=source,
            dataset=dataset,
            auth=auth,
            params=params,
            mapping=mapping,
            flow_spec=flow_spec,
        )

    def _fail_closed(
        self, source: Source, request: ConnectRequest, held: Mapping[str, Any]
    ) -> None:
        authenticated = request.credentials.get("authenticationRequired") or held.get(
            "authenticationRequired"
        )
        if source.unsigned and source.mode == "streaming" and not authenticated:
            # --authenticated is offered only where the sender can present an IMS token: the
            # HTTP API's own senders can, a third party's webhooks (Chatlio) cannot.
            can_authenticate = any(
                "authenticationRequired" in (spec.spec.get("properties") or {})
                for spec in source.connection_spec.auth_spec or []
            )
            self.progress(
                "warning",
                "warning",
                f"{source.title} deliveries carry no signature: anyone who knows the inlet URL "
                "can post rows to it"
                + (" (unless it is authenticated: --authenticated)" if can_authenticate else ""),
            )
        param = source.delivery_secret
        if param is None or request.credentials.get(param) or held.get(param):
            return
        consequence = (
            f"the local inlet will refuse every delivery to it until {param} is set, and "
            "Adobe's inlet checks no signature at all"
        )
        if source.mode != "streaming":
            # Webhooks are optional beside a scheduled pull: the pull works without them.
            self.progress(
                "warning", "warning", f"no {param}: webhook deliveries are off ({consequence})"
            )
            return
        if not request.insecure_allow_unsigned:
            raise SourceflowError(
                f"{source.title} signs its deliveries with {param}, and {request.name!r} has "
                f"no {param}: {consequence}",
                hint=f"give --param {param}=… (project file: params.{param} = "
                f'{{ env = "VAR" }}), or pass --insecure-allow-unsigned (project file: '
                "insecure_allow_unsigned = true) to create it unsigned anyway",
            )
        self.progress("warning", "warning", f"no {param}, created unsigned: {consequence}")

    def _walk(self, w: _Walk) -> None:
        d = w.desired
        source, request, name = d.source, w.request, w.request.name
        if source.needs_base_connection:
            self._resource(
                w,
                "base_connection",
                model.Connection(
                    name=f"{name} base connection",
                    connection_spec=model.SpecRef(id=source.id),
                    provider_id=source.connection_spec.provider_id,
                    description=f"sourceflow: {source.title}",
                    auth=d.auth,
                ),
            )
        self._resource(
            w,
            "source_connection",
            model.SourceConnection(
                name=f"{name} source connection",
                description=f"sourceflow: {source.title}",
                connection_spec=model.SpecRef(id=source.id),
                base_connection_id=w.ids.get("base_connection"),
                provider_id=None
                if source.needs_base_connection
                else source.connection_spec.provider_id,
                data=model.DataFormat(format=d.params.data_format)
                if d.params.data_format
                else None,
                params=d.params.params,
            ),
        )
        dataset = d.dataset
        self._resource(
            w,
            "target_connection",
            model.TargetConnection(
                name=f"{name} target connection",
                description=f"sourceflow: {source.title} into dataset {request.dataset_id}",
                connection_spec=model.SpecRef(id=DATA_LAKE_SPEC_ID),
                data=model.TargetData(
                    format=source.target_format,
                    schema=model.SchemaRef(
                        id=dataset.schema_ref.id, version=dataset.schema_ref.content_type
                    )
                    if dataset.schema_ref
                    else None,
                ),
                params={"dataSetId": request.dataset_id},
            ),
        )
        self._mapping_step(w)
        self._resource(
            w,
            "flow",
            model.Flow(
                name=f"{name} flow",
                description=f"sourceflow: {source.title}",
                flow_spec=model.SpecRef(id=d.flow_spec),
                source_connection_ids=[w.ids["source_connection"]],
                target_connection_ids=[w.ids["target_connection"]],
                transformations=[
                    model.Transformation(
                        name="Mapping",
                        # An integer, as Adobe's tutorials send it (Data Prep versions are).
                        params={"mappingId": w.ids["mapping"], "mappingVersion": 0},
                    )
                ]
                if "mapping" in w.ids
                else None,
                options=_flow_options(source, request.credentials),
                schedule_params=request.schedule,
            ),
        )
        self._endpoint_step(w)

    # --- one resource -------------------------------------------------------------------------

    def _collection(self, step: str) -> Any:
        return {
            "base_connection": self.client.connections,
            "source_connection": self.client.source_connections,
            "target_connection": self.client.target_connections,
            "flow": self.client.flows,
            "mapping": self.client.mapping_sets,
        }[step]

    def _resource(self, w: _Walk, step: str, body: Any) -> None:
        record, rules = w.record, RULES[step]
        resources = self._collection(step)
        schedule = w.request.schedule
        # Unmanaged: a schedule not declared is the platform's, one declared without a start
        # keeps the start it was created with.
        ignore_schedule = step == "flow" and schedule is None
        loose_start = step == "flow" and schedule is not None and schedule.start_time is None

        def trim(p: dict[str, Any]) -> dict[str, Any]:
            if ignore_schedule:
                p = {k: v for k, v in p.items() if k != "scheduleParams"}
            return without_start(p) if loose_start else p

        want = trim(project(step, body, salt=record.salt))
        applied = record.applied.get(step)
        change = Change(name=w.request.name, step=step, action="unchanged")
        w.plan.changes.append(change)
        with self._observed(step, w.desired.source, quiet=not w.write) as result:
            actual = self._actual(record, step, resources, body.name)
            if actual is None:
                if record.ids.get(step):
                    change.drift.append("deleted outside sourceflow")
                change.action = "create"
                w.ids[step] = self._create_step(w, step, body, want) if w.write else f"(new {step})"
            else:
                change.id = w.ids[step] = str(actual.id)
                have = trim(project(step, actual, salt=record.salt, applied=applied))
                if applied is not None:
                    change.drift = describe(differences(trim(dict(applied)), have))
                diffs = differences(have, want)
                change.changes = describe(diffs)
                fixed = sorted({p.split(".")[0] for p, _, _ in diffs} & set(rules.fixed))
                if fixed:
                    change.action = "replace"
                    change.reason = f"{', '.join(fixed)} is fixed when the resource is created"
                    if w.write:
                        self._delete_chain(w, step)
                        w.ids[step] = self._create_step(w, step, body, want)
                elif diffs:
                    change.action = "update"
                    if w.write:
                        self._update(w, step, resources, body, want, trim)
                elif w.write and (applied != want or record.ids.get(step) != actual.id):
                    record.ids[step], record.applied[step] = str(actual.id), want
                    self.state.save(record)
                    self.progress(step, "reused", str(actual.id))
                elif w.write:
                    self.progress(step, "reused", str(actual.id))
            change.id = w.ids[step]
            w.actions[step] = change.action
            result["id"] = w.ids[step]

    def _actual(self, record: Record, step: str, resources: Any, name: str | None) -> Any:
        known = record.ids.get(step)
        if known:
            with suppress(NotFound):
                return resources.get(known)
        found = self._named(resources, name)
        return found[0] if found else None

    def _create_step(self, w: _Walk, step: str, body: Any, want: dict[str, Any]) -> str:
        record = w.record
        if step == "flow" and w.request.schedule and w.request.schedule.start_time is None:
            body = attrs.evolve(
                body, schedule_params=attrs.evolve(w.request.schedule, start_time=int(time.time()))
            )
        resources = self._collection(step)
        new_id = self._create(resources, body)
        id_ = self._settle_new(step, resources, body, new_id)
        record.ids[step], record.applied[step] = id_, want
        self.state.save(record)
        self.progress(step, "created" if id_ == new_id else "reused", id_)
        return id_

    def _update(
        self,
        w: _Walk,
        step: str,
        resources: Any,
        body: Any,
        want: dict[str, Any],
        trim: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        record = w.record
        desired_json = wire.to_json(body)
        for attempt in range(PATCH_TRIES):
            actual = resources.get(w.ids[step])
            have = trim(project(step, actual, salt=record.salt, applied=record.applied.get(step)))
            keys = sorted({p.split(".")[0] for p, _, _ in differences(have, want)})
            if not keys:
                break
            ops = patch_ops(desired_json, wire.to_json(actual), keys)
            try:
                resources.patch(str(actual.id), ops, str(actual.etag))
                break
            except Conflict:
                # Changed since it was read (another run, a person): read it again.
                if attempt == PATCH_TRIES - 1:
                    raise
        record.ids[step], record.applied[step] = w.ids[step], want
        self.state.save(record)
        self.progress(step, "updated", w.ids[step])

    def _mapping_step(self, w: _Walk) -> None:
        record, mapping = w.record, w.desired.mapping
        change = Change(name=w.request.name, step="mapping", action="unchanged")
        known = record.ids.get("mapping")
        if mapping is None:
            if known:
                w.plan.changes.append(change)
                change.action, change.id = "delete", known
                change.reason = "the flow stops using it (Data Prep keeps mapping sets)"
                if w.write:
                    del record.ids["mapping"]
                    record.applied.pop("mapping", None)
                    self.state.save(record)
            return
        w.plan.changes.append(change)
        resources = self.client.mapping_sets
        with self._observed("mapping", w.desired.source, quiet=not w.write) as result:
            current = None
            if known:
                with suppress(NotFound):
                    current = resources.get(known)
            if current is not None and current.name == mapping.name:
                w.ids["mapping"] = str(current.id)
                if w.write:
                    self.progress("mapping", "reused", str(current.id))
            else:
                if known and current is None:
                    change.drift.append("deleted outside sourceflow")
                change.action = "replace" if known else "create"
                if known:
                    change.changes = ["rules or output schema changed: a new mapping set"]
                    change.reason = "Data Prep mapping sets are not changed in place"
                found = self._named(resources, mapping.name)
                if found:
                    w.ids["mapping"] = str(found[0].id)
                elif w.write:
                    w.ids["mapping"] = self._settle_new(
                        "mapping", resources, mapping, self._create(resources, mapping)
                    )
                else:
                    w.ids["mapping"] = "(new mapping)"
                if w.write:
                    record.ids["mapping"] = w.ids["mapping"]
                    record.applied["mapping"] = {"name": mapping.name}
                    self.state.save(record)
                    self.progress("mapping", "created", w.ids["mapping"])
            change.id = w.ids["mapping"]
            result["id"] = change.id

    # --- the endpoint -------------------------------------------------------------------------

    def _endpoint_step(self, w: _Walk) -> None:
        source, record = w.desired.source, w.record
        if source.inlet_on is None:
            return
        owner = "base_connection" if source.inlet_on == "connection" else "flow"
        what: dict[str, Any] = {"object": w.request.object, "credentials": w.request.credentials}
        if w.request.webhook_base:  # only when set: records made before it keep their print
            what["webhookBase"] = w.request.webhook_base
        fingerprint = secret_hash(record.salt, what)
        recorded_fp = record.endpoint.get("fingerprint", fingerprint)
        change = Change(name=w.request.name, step="endpoint", action="unchanged")
        w.plan.changes.append(change)
        if not w.write:
            if w.actions.get(owner) in ("create", "replace") or "endpoint" not in record.ids:
                change.action = "replace" if "endpoint" in record.ids else "create"
            elif recorded_fp != fingerprint:
                change.action = "update"
                change.changes = ["object or params changed: the endpoint is set up again"]
            change.id = record.ids.get("endpoint")
            return
        endpoint = self._current_endpoint(w)
        if endpoint is None:  # a scheduled source's webhooks, on a platform with no inlet
            change.action = "unchanged"
            self.progress(
                "endpoint",
                "skipped",
                f"this platform gives {source.title} flows no inlet: send its webhooks "
                "through sourceflow relay (docs/relay.md), or rely on the scheduled pull",
            )
            return
        with self._observed("endpoint", source) as result:
            inlet = {
                "inletUrl": endpoint.inlet_url,
                "inletId": endpoint.inlet_id,
                "authenticationRequired": endpoint.authentication_required,
                "fingerprint": fingerprint,
            }
            if record.ids.get("endpoint") == endpoint.inlet_id and recorded_fp == fingerprint:
                if record.endpoint != inlet:  # e.g. the inlet was made authenticated in place
                    record.endpoint = inlet
                    self.state.save(record)
                self.progress("endpoint", "reused", endpoint.inlet_url)
            else:
                if "endpoint" in record.ids:
                    same_inlet = record.ids["endpoint"] == endpoint.inlet_id
                    change.action = "update" if same_inlet else "replace"
                    self._remove_endpoint(record, source)
                else:
                    change.action = "create"
                flow = self.client.flows.get(w.ids["flow"])
                facts = self.registry.call(
                    "sourceflow_endpoint",
                    source,
                    flow=flow,
                    endpoint=endpoint,
                    credentials=_plugin_params(source, w.request.credentials),
                )
                record.recorded = dict(facts or {})
                record.endpoint = inlet
                record.ids["endpoint"] = endpoint.inlet_id
                self.state.save(record)
                self.progress("endpoint", "created", endpoint.inlet_url)
            change.id = endpoint.inlet_id
            result.update(inletUrl=endpoint.inlet_url, flowId=endpoint.flow_id)

    def _current_endpoint(self, w: _Walk) -> Endpoint | None:
        """The flow's inlet as an endpoint; None for a scheduled source's optional inlet
        that this platform did not make (Adobe makes none for a batch source's flow)."""
        source = w.desired.source
        flow = self.client.flows.get(w.ids["flow"])
        if source.inlet_on == "connection":
            base = self.client.connections.get(w.ids["base_connection"])
            values = base.auth.params if base.auth else {}
            where = "the connection's auth.params"
        else:
            values = flow.options or {}
            where = "the flow's options"
        url, inlet_id = values.get("inletUrl"), values.get("inletId")
        if not url and source.mode != "streaming":
            return None
        if not url:
            raise SourceflowError(
                f"the platform gave no inlet URL for {source.name!r} ({where} has no inletUrl)",
                hint="wait a minute and run again: Adobe creates inlets asynchronously",
            )
        inlet_id = str(inlet_id or url.rstrip("/").rsplit("/", 1)[-1])
        relay = w.request.webhook_base
        return Endpoint(
            inlet_id=inlet_id,
            inlet_url=str(url),
            flow_id=str(flow.id),
            authentication_required=bool(values.get("authenticationRequired")),
            # The relay serves Adobe's inlet paths: only the host differs.
            webhook_url=f"{relay.rstrip('/')}/collection/{inlet_id}" if relay else None,
            object=w.request.object,
        )

    def _remove_endpoint(self, record: Record, source: Source) -> None:
        if "endpoint" not in record.ids:
            return
        flow_id = record.ids.get("flow")
        flow = self._get_or_none(self.client.flows, flow_id) if flow_id else None
        if flow is not None:
            self.registry.call(
                "sourceflow_remove_endpoint",
                source,
                flow=flow,
                endpoint=Endpoint(
                    inlet_id=record.endpoint.get("inletId", record.ids["endpoint"]),
                    inlet_url=record.endpoint.get("inletUrl", ""),
                    flow_id=str(flow_id),
                ),
                recorded=record.recorded,
            )
        del record.ids["endpoint"]
        record.endpoint, record.recorded = {}, {}
        self.state.save(record)
        self.progress("endpoint", "deleted", str(flow_id or ""))

    # --- deleting -----------------------------------------------------------------------------

    def _delete_chain(self, w: _Walk, step: str, *, racing: bool = False) -> None:
        """Delete what depends on ``step``'s resource, then the resource itself.

        ``racing``: giving up a chain that lost a race, where a resource still in use was
        built on by another racer, whose own settle deletes it after its dependents.
        """
        source = w.desired.source
        for dependent in DEPENDENTS.get(step, ()):
            self._delete_step(w.record, source, dependent, racing=racing)
        self._delete_step(w.record, source, step, racing=racing)

    def _delete_step(
        self, record: Record, source: Source, step: str, *, racing: bool = False
    ) -> bool:
        if step == "endpoint":
            had = "endpoint" in record.ids
            self._remove_endpoint(record, source)
            return had
        id_ = record.ids.get(step)
        if not id_:
            return False
        try:
            self._collection(step).delete(id_)
        except NotFound:
            pass  # already gone counts as deleted
        except Conflict:
            if not racing:
                raise
        del record.ids[step]
        record.applied.pop(step, None)
        self.state.save(record)
        self.progress(step, "deleted", id_)
        return True

    def teardown(self, record: Record) -> list[str]:
        """Delete what ``record`` holds, newest first; returns the steps undone.

        Mapping sets stay: Data Prep has no delete. A resource already gone counts as deleted.
        """
        source = self.registry.source(record.source)
        undone: list[str] = []
        with self._observed("teardown", source, run=record.name):
            for step in ("endpoint", "flow", "target_connection", "source_connection"):
                if self._delete_step(record, source, step):
                    undone.append(step)
            if self._delete_step(record, source, "base_connection"):
                undone.append("base_connection")
            self.state.forget(record)
        return undone

    def teardown_plan(self, record: Record) -> SourcePlan:
        """What :meth:`teardown` would delete."""
        plan = SourcePlan(name=record.name, source=record.source)
        for step in (
            "endpoint",
            "flow",
            "target_connection",
            "source_connection",
            "base_connection",
        ):
            if record.ids.get(step):
                plan.changes.append(
                    Change(name=record.name, step=step, action="delete", id=record.ids[step])
                )
        return plan

    # --- races --------------------------------------------------------------------------------

    def _settle_new(self, step: str, resources: Any, body: Any, new_id: str) -> str:
        """After creating ``new_id``: if an older resource of the same name and parents exists,
        delete ours and use that one (the racer that made it does the same)."""
        rivals = [r for r in self._named(resources, body.name) if _same_parents(step, r, body)]
        if not rivals or str(rivals[0].id) == new_id:
            return new_id
        if not isinstance(resources, MappingSets):  # Data Prep has no delete
            # In use (Conflict): another racer found ours by name and built on it before we
            # could delete it; its own settle gives up its chain, ours included, later.
            with suppress(NotFound, Conflict):
                resources.delete(new_id)
        return str(rivals[0].id)

    def _lost_parent(self, w: _Walk) -> bool:
        """Whether a Flow Service resource this walk has built on is gone from the platform."""
        for step in FLOW_SERVICE_STEPS:
            id_ = w.ids.get(step)
            if id_ and self._get_or_none(self._collection(step), id_) is None:
                return True
        return False

    def _settle(self, w: _Walk) -> bool:
        """Look again once the whole chain exists, when every racer's resources are visible:
        where ours lost, delete our chain from there down and adopt the winner. True when
        something was given up (the caller walks again to rebuild under the winner)."""
        record = w.record
        for step in FLOW_SERVICE_STEPS:
            ours = record.ids.get(step)
            if not ours:
                continue
            resources = self._collection(step)
            mine = self._get_or_none(resources, ours)
            if mine is None:
                continue
            rivals = [r for r in self._named(resources, mine.name) if _same_parents(step, r, mine)]
            if rivals and str(rivals[0].id) != ours:
                self._delete_chain(w, step, racing=True)
                record.ids[step] = str(rivals[0].id)
                self.state.save(record)
                self.progress(step, "reused", f"{rivals[0].id} (an older twin won the race)")
                return True
        return False

    # --- platform helpers ---------------------------------------------------------------------

    def _create(self, resources: Any, body: Any) -> str:
        # As many tries as the client's retry policy allows: the answer to the second try can
        # be lost too, and each lost answer is settled by looking before sending again.
        for _ in range(max(1, self.client.retry.attempts) - 1):
            try:
                return str(resources.create(body).id)
            except Unavailable:
                # The answer was lost, maybe not the request: look before creating a second one.
                found = self._named(resources, body.name)
                if found:
                    return str(found[0].id)
        return str(resources.create(body).id)

    @staticmethod
    def _named(resources: Any, name: str | None) -> list[Any]:
        """Every resource called ``name``, oldest first (``createdAt``, then id)."""
        # Flow Service filters lists with property=name==value; Data Prep lists are scanned.
        if not name:
            return []
        listing = (
            resources.list()
            if isinstance(resources, MappingSets)
            else resources.list(property=f"name=={name}")
        )
        found = [item for item in listing if item.name == name and item.id]
        return sorted(found, key=_age)

    @staticmethod
    def _get_or_none(resources: Any, id_: str) -> Any:
        try:
            return resources.get(id_)
        except NotFound:
            return None

    @contextmanager
    def _observed(
        self, name: str, source: Source, *, quiet: bool = False, **detail: Any
    ) -> Iterator[dict[str, Any]]:
        # Observers watch what is done: a plan (quiet) does nothing.
        step = Step(name=name, source=source.name, detail=detail)
        result: dict[str, Any] = {}
        if quiet:
            yield result
            return
        self.registry.notify("before_step", step)
        try:
            yield result
        except BaseException as exc:
            self.registry.notify("on_step_error", step, error=exc)
            raise
        self.registry.notify("after_step", step, result=result)

    def _dataset(self, dataset_id: str) -> model.Dataset:
        if dataset_id in self.known_datasets:
            return self.known_datasets[dataset_id]
        try:
            return self.client.datasets.get(dataset_id)
        except NotFound:
            raise SourceflowError(
                f"dataset {dataset_id!r} does not exist on {self.client.settings.platform_url}",
                hint="create one with: sourceflow datasets create NAME",
            ) from None

    def _authenticate(self, source: Source, request: ConnectRequest) -> model.Auth | None:
        if not source.needs_base_connection:
            return None
        specs = source.connection_spec.auth_spec or []
        spec = (
            source.connection_spec.auth_spec_named(request.auth_spec)
            if request.auth_spec
            else specs[0]
            if specs
            else None
        )
        if spec is None:
            names = ", ".join(s.name for s in specs) or "none"
            raise SourceflowError(
                f"source {source.name!r} has no auth spec {request.auth_spec!r}; it has: {names}"
            )
        credentials = with_defaults(spec, request.credentials, request.name)
        check_credentials(spec, credentials)
        with self._observed("authenticate", source, authSpec=spec.name):
            auth = self.registry.call("sourceflow_authenticate", source, credentials=credentials)
        return auth if auth is not None else model.Auth(spec_name=spec.name, params=credentials)

    def _source_params(
        self, source: Source, object: str | None, credentials: Mapping[str, Any]
    ) -> SourceParams:
        params = self.registry.call(
            "sourceflow_source_params",
            source,
            object=object,
            credentials=_plugin_params(source, credentials),
        )
        return params if params is not None else SourceParams()

    def _mapping(
        self, source: Source, request: ConnectRequest, dataset: model.Dataset
    ) -> model.MappingSet | None:
        if request.mapping is not None:
            mapping = attrs.evolve(request.mapping)
        else:
            rules = self.registry.call(
                "sourceflow_mapping_defaults", source, object=request.object, tenant=request.tenant
            )
            if not rules:
                return None
            mapping = model.MappingSet(mappings=list(rules))
        if mapping.output_schema is None and dataset.schema_ref is not None:
            mapping.output_schema = model.OutputSchema(schema_ref=dataset.schema_ref)
        # The content names the set: Data Prep changes none in place, so a change is a new set.
        content = wire.to_json(attrs.evolve(mapping, name=None, id=None, version=None))
        mapping.name = f"{request.name} mapping {secret_hash('mapping', content)[-10:]}"
        return mapping

    def _connected(self, w: _Walk) -> Connected:
        record = w.record
        endpoint = record.endpoint
        authenticated = bool(endpoint.get("authenticationRequired"))
        return Connected(
            name=w.request.name,
            source=w.desired.source.name,
            ids=dict(record.ids),
            inlet_url=endpoint.get("inletUrl"),
            inlet_id=endpoint.get("inletId"),
            flow_id=record.ids["flow"],
            authentication_required=authenticated,
            endpoint_facts=dict(record.recorded),
            resumed=[c.step for c in w.plan.changes if c.action == "unchanged"],
            plan=w.plan,
        )


def _age(resource: Any) -> tuple[int, str]:
    created = getattr(resource, "created_at", None)
    if created is None:  # Data Prep: ISO dates, which sort as text
        created_text = str(getattr(resource, "created_date", "") or "")
        return (0, created_text + str(resource.id))
    return (int(created), str(resource.id))


def _same_parents(step: str, a: Any, b: Any) -> bool:
    if step == "mapping":
        return True
    pa, pb = project(step, a, salt=""), project(step, b, salt="")
    return all(pa.get(k) == pb.get(k) for k in RULES[step].fixed)


def _plugin_params(source: Source, credentials: Mapping[str, Any]) -> dict[str, Any]:
    """What the plugin's hooks see of the user's params: for a source whose flow owns the
    inlet, ``authenticationRequired`` is the core's option (the flow's options carry it,
    :func:`_flow_options`), so a plugin that refuses unknown params still takes
    ``--authenticated``."""
    if source.inlet_on != "flow":
        return dict(credentials)
    return {k: v for k, v in credentials.items() if k != "authenticationRequired"}


def _flow_options(source: Source, credentials: Mapping[str, Any]) -> dict[str, Any] | None:
    # A flow that owns its inlet (generic streaming) carries the authenticated-inlet option
    # where a base connection would (HTTP API: auth.params.authenticationRequired).
    if source.inlet_on != "flow" or not _flag(credentials.get("authenticationRequired")):
        return None
    return {"authenticationRequired": True}


def _flag(value: Any) -> bool:
    # --param values arrive as text.
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True


_REPLACE_HINT = (
    "re-run with --replace to replace them (a replaced flow or base connection gets a new "
    "inlet URL), choose another --name, or `sourceflow teardown NAME` first"
)


def _refusal(name: str, plan: SourcePlan) -> str:
    lines = [f"{name!r} exists with other options, and applying them means replacing:"]
    for change in plan.pending:
        what = "; ".join(change.changes) or change.action
        because = f" ({change.reason})" if change.reason else ""
        lines.append(f"  {change.action} {change.step.replace('_', ' ')}: {what}{because}")
    return "\n".join(lines)
