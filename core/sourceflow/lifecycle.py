"""Connect a source and tear it down: the Flow Service lifecycle as one resumable plan.

``connect`` runs base connection → source connection → target connection → mapping → flow →
endpoint against whatever Flow Service the client points at. Each step's id is written to the
state file as soon as it exists, so a re-run after a failure picks up where it stopped instead
of creating duplicates; a resource that was created but not recorded (the run died between the
two) is found again by its name. ``teardown`` deletes what was created, in reverse order.

The core knows no source by name: what differs between sources comes from the hooks and from
the :class:`~sourceflow.hooktypes.Source` record (base connection or provider id, where the
inlet lives, which flow spec).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, Protocol, TypeVar

import jsonschema
from attrs import define, field

from sourceflow import model
from sourceflow.client import FlowServiceClient, MappingSets
from sourceflow.errors import InvalidBody, NotFound, SourceflowError, Unavailable
from sourceflow.hooktypes import Endpoint, Source, SourceParams, Step
from sourceflow.plugins import Registry
from sourceflow.state import Record, StateFile

STEPS = ("base_connection", "source_connection", "target_connection", "mapping", "flow", "endpoint")

T = TypeVar("T")


class _Named(Protocol):
    @property
    def id(self) -> str | None: ...

    @property
    def name(self) -> str | None: ...


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
        streaming sources, and ``once`` at creation for scheduled ones (Adobe's default).
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
        }


Progress = Callable[[str, str, str], None]
"""Called as ``progress(step, status, detail)``; status: ``created``, ``reused``, ``deleted``."""


def _quiet(step: str, status: str, detail: str) -> None:
    pass


class Lifecycle:
    """Runs ``connect`` and ``teardown`` through the plugin hooks and the Flow Service client."""

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

    # --- connect ------------------------------------------------------------------------------

    def connect(self, request: ConnectRequest) -> Connected:
        """Create (or resume creating) everything a source needs to deliver into a dataset."""
        source = self.registry.source(request.source)
        settings = self.client.settings
        record = self.state.get(request.name, settings.platform_url, settings.sandbox)
        if record is None:
            record = Record(
                name=request.name,
                source=source.name,
                platform_url=settings.platform_url,
                sandbox=settings.sandbox,
            )
        elif record.source != source.name:
            raise SourceflowError(
                f"{request.name!r} was connected as source {record.source!r}, not {source.name!r}",
                hint="choose another --name, or tear the old one down first",
            )
        resumed = [s for s in STEPS if s in record.ids]
        dataset = self._dataset(request.dataset_id)
        auth = self._authenticate(source, request)

        if source.needs_base_connection:
            self._ensure(
                record,
                "base_connection",
                source,
                self.client.connections,
                lambda: model.Connection(
                    name=f"{request.name} base connection",
                    connection_spec=model.SpecRef(id=source.id),
                    provider_id=source.connection_spec.provider_id,
                    description=f"sourceflow: {source.title}",
                    auth=auth,
                ),
            )
        params = self._source_params(source, request.object, request.credentials)
        self._ensure(
            record,
            "source_connection",
            source,
            self.client.source_connections,
            lambda: model.SourceConnection(
                name=f"{request.name} source connection",
                description=f"sourceflow: {source.title}",
                connection_spec=model.SpecRef(id=source.id),
                base_connection_id=record.ids.get("base_connection"),
                provider_id=None
                if source.needs_base_connection
                else source.connection_spec.provider_id,
                data=model.DataFormat(format=params.data_format) if params.data_format else None,
                params=params.params,
            ),
        )
        self._ensure(
            record,
            "target_connection",
            source,
            self.client.target_connections,
            lambda: model.TargetConnection(
                name=f"{request.name} target connection",
                description=f"sourceflow: {source.title} into dataset {request.dataset_id}",
                connection_spec=model.SpecRef(id=model.DATA_LAKE_SPEC_ID),
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
        mapping = self._mapping(source, request, dataset)
        if mapping is not None:
            self._ensure(record, "mapping", source, self.client.mapping_sets, lambda: mapping)
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
        self._ensure(
            record,
            "flow",
            source,
            self.client.flows,
            lambda: model.Flow(
                name=f"{request.name} flow",
                description=f"sourceflow: {source.title}",
                flow_spec=model.SpecRef(id=flow_spec),
                source_connection_ids=[record.ids["source_connection"]],
                target_connection_ids=[record.ids["target_connection"]],
                transformations=[
                    model.Transformation(
                        name="Mapping",
                        # An integer, as Adobe's tutorials send it (Data Prep versions are).
                        params={"mappingId": record.ids["mapping"], "mappingVersion": 0},
                    )
                ]
                if "mapping" in record.ids
                else None,
                options=_flow_options(source, request.credentials),
                schedule_params=request.schedule,
            ),
        )
        endpoint = self._endpoint(record, source, request)
        return Connected(
            name=request.name,
            source=source.name,
            ids=dict(record.ids),
            inlet_url=endpoint.inlet_url if endpoint else None,
            inlet_id=endpoint.inlet_id if endpoint else None,
            flow_id=record.ids["flow"],
            authentication_required=bool(endpoint and endpoint.authentication_required),
            endpoint_facts=dict(record.recorded),
            resumed=resumed,
        )

    @contextmanager
    def _step(self, name: str, source: Source, **detail: Any) -> Iterator[dict[str, Any]]:
        step = Step(name=name, source=source.name, detail=detail)
        result: dict[str, Any] = {}
        self.registry.notify("before_step", step)
        try:
            yield result
        except BaseException as exc:
            self.registry.notify("on_step_error", step, error=exc)
            raise
        self.registry.notify("after_step", step, result=result)

    def _ensure(
        self,
        record: Record,
        step: str,
        source: Source,
        resources: Any,
        build: Callable[[], _Named],
    ) -> str:
        """Create a resource unless the record (or the platform, by name) already has it."""
        with self._step(step, source) as result:
            known = record.ids.get(step)
            if known and self._exists(resources, known):
                status, id_ = "reused", known
            else:
                body = build()
                found = self._by_name(resources, body.name)
                status, id_ = ("reused", found) if found else ("created", "")
                if not found:
                    id_ = self._create(resources, body)
            record.ids[step] = id_
            self.state.save(record)
            self.progress(step, status, id_)
            result["id"] = id_
            return id_

    def _create(self, resources: Any, body: _Named) -> str:
        # As many tries as the client's retry policy allows: the answer to the second try can
        # be lost too, and each lost answer is settled by looking before sending again.
        for _ in range(max(1, self.client.retry.attempts) - 1):
            try:
                return str(resources.create(body).id)
            except Unavailable:
                # The answer was lost, maybe not the request: look before creating a second one.
                found = self._by_name(resources, body.name)
                if found:
                    return found
        return str(resources.create(body).id)

    @staticmethod
    def _exists(resources: Any, id_: str) -> bool:
        try:
            resources.get(id_)
        except NotFound:
            return False
        return True

    @staticmethod
    def _by_name(resources: Any, name: str | None) -> str | None:
        # Flow Service filters lists with property=name==value; Data Prep lists are scanned.
        if not name:
            return None
        listing = (
            resources.list()
            if isinstance(resources, MappingSets)
            else resources.list(property=f"name=={name}")
        )
        for item in listing:
            if item.name == name and item.id:
                return str(item.id)
        return None

    def _dataset(self, dataset_id: str) -> model.Dataset:
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
        with self._step("authenticate", source, authSpec=spec.name):
            auth = self.registry.call("sourceflow_authenticate", source, credentials=credentials)
        return auth if auth is not None else model.Auth(spec_name=spec.name, params=credentials)

    def _source_params(
        self, source: Source, object: str | None, credentials: Mapping[str, Any]
    ) -> SourceParams:
        params = self.registry.call(
            "sourceflow_source_params", source, object=object, credentials=credentials
        )
        return params if params is not None else SourceParams()

    def _mapping(
        self, source: Source, request: ConnectRequest, dataset: model.Dataset
    ) -> model.MappingSet | None:
        if request.mapping is not None:
            mapping = request.mapping
        else:
            rules = self.registry.call(
                "sourceflow_mapping_defaults", source, object=request.object, tenant=request.tenant
            )
            if not rules:
                return None
            mapping = model.MappingSet(mappings=list(rules))
        if mapping.output_schema is None and dataset.schema_ref is not None:
            mapping.output_schema = model.OutputSchema(schema_ref=dataset.schema_ref)
        mapping.name = f"{request.name} mapping"
        return mapping

    def _endpoint(self, record: Record, source: Source, request: ConnectRequest) -> Endpoint | None:
        if source.mode != "streaming" or source.inlet_on is None:
            return None
        with self._step("endpoint", source) as result:
            flow = self.client.flows.get(record.ids["flow"])
            if source.inlet_on == "connection":
                base = self.client.connections.get(record.ids["base_connection"])
                values = base.auth.params if base.auth else {}
                where = "the connection's auth.params"
            else:
                values = flow.options or {}
                where = "the flow's options"
            url, inlet_id = values.get("inletUrl"), values.get("inletId")
            if not url:
                raise SourceflowError(
                    f"the platform gave no inlet URL for {source.name!r} ({where} has no inletUrl)",
                    hint="wait a minute and re-run connect: Adobe creates inlets asynchronously",
                )
            endpoint = Endpoint(
                inlet_id=str(inlet_id or url.rstrip("/").rsplit("/", 1)[-1]),
                inlet_url=str(url),
                flow_id=str(flow.id),
                authentication_required=bool(values.get("authenticationRequired")),
                object=request.object,
            )
            if "endpoint" not in record.ids:
                facts = self.registry.call(
                    "sourceflow_endpoint",
                    source,
                    flow=flow,
                    endpoint=endpoint,
                    credentials=request.credentials,
                )
                record.recorded = dict(facts or {})
                record.endpoint = {"inletUrl": endpoint.inlet_url, "inletId": endpoint.inlet_id}
                record.ids["endpoint"] = endpoint.inlet_id
                self.state.save(record)
                self.progress("endpoint", "created", endpoint.inlet_url)
            else:
                self.progress("endpoint", "reused", endpoint.inlet_url)
            result.update(inletUrl=endpoint.inlet_url, flowId=endpoint.flow_id)
            return endpoint

    # --- teardown -----------------------------------------------------------------------------

    def teardown(self, record: Record) -> list[str]:
        """Delete what ``record`` holds, newest first; returns the steps undone.

        Mapping sets stay: Data Prep has no delete. A resource already gone counts as deleted.
        """
        source = self.registry.source(record.source)
        undone: list[str] = []
        with self._step("teardown", source, run=record.name):
            if "endpoint" in record.ids and "flow" in record.ids:
                flow = self._get_or_none(self.client.flows, record.ids["flow"])
                if flow is not None:
                    endpoint = Endpoint(
                        inlet_id=record.endpoint.get("inletId", record.ids["endpoint"]),
                        inlet_url=record.endpoint.get("inletUrl", ""),
                        flow_id=record.ids["flow"],
                    )
                    self.registry.call(
                        "sourceflow_remove_endpoint",
                        source,
                        flow=flow,
                        endpoint=endpoint,
                        recorded=record.recorded,
                    )
                del record.ids["endpoint"]
                self.state.save(record)
                undone.append("endpoint")
                self.progress("endpoint", "deleted", endpoint_url(record))
            deletions: list[tuple[str, Any]] = [
                ("flow", self.client.flows),
                ("target_connection", self.client.target_connections),
                ("source_connection", self.client.source_connections),
                ("base_connection", self.client.connections),
            ]
            for step, resources in deletions:
                id_ = record.ids.get(step)
                if not id_:
                    continue
                with suppress(NotFound):  # already gone counts as deleted
                    resources.delete(id_)
                del record.ids[step]
                self.state.save(record)
                undone.append(step)
                self.progress(step, "deleted", id_)
            self.state.forget(record)
        return undone

    @staticmethod
    def _get_or_none(resources: Any, id_: str) -> Any:
        try:
            return resources.get(id_)
        except NotFound:
            return None


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


def endpoint_url(record: Record) -> str:
    """The inlet URL recorded for a run, or an empty string."""
    return str(record.endpoint.get("inletUrl", ""))


# Streaming auth specs name the connection twice (``name``, ``sourceId``); a run has a name.
_NAMED_BY_RUN = ("name", "sourceId")


def with_defaults(
    spec: model.AuthSpec, credentials: Mapping[str, Any], run_name: str
) -> dict[str, Any]:
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


def check_credentials(spec: model.AuthSpec, credentials: Mapping[str, Any]) -> None:
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
