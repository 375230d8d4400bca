"""The project file, ``sourceflow.toml``: datasets and sources as code, on the one engine.

::

    [project]
    name = "shop"

    [datasets.orders]
    schema = "https://ns.adobe.com/acme/schemas/orders"

    [sources.orders]
    plugin = "shopify"
    dataset = "orders"
    object = "orders/create"
    params = { shop = "acme.myshopify.com", clientSecret = { env = "SHOPIFY_SECRET" } }

:func:`load` reads and validates it (every problem names its key and the fix; a secret written
as a value is refused), :class:`ProjectRun` plans, applies and destroys it through
:class:`~sourceflow.engine.Engine`, and :func:`export` writes one for flows that exist.
The file's JSON schema is :data:`SCHEMA` (published in ``docs/project-file.md``).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import jsonschema
from attrs import define, field

from sourceflow import model, redact, wire
from sourceflow.client import FlowServiceClient
from sourceflow.engine import lock
from sourceflow.engine.reconcile import Change, Engine, Progress, SourcePlan, _quiet
from sourceflow.errors import ConfigError, InvalidBody, NotFound, SourceflowError, UnknownSource
from sourceflow.lifecycle import ConnectRequest
from sourceflow.plugins import Registry
from sourceflow.state import Record, StateFile

DEFAULT_FILE = "sourceflow.toml"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://sourceflow.dev/schemas/sourceflow.toml.json",
    "title": "sourceflow.toml",
    "description": "Datasets and sources of one sourceflow project.",
    "type": "object",
    "additionalProperties": False,
    "required": ["project"],
    "properties": {
        "project": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": _NAME},
                "tenant": {"type": "string", "minLength": 1},
            },
        },
        "datasets": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"$ref": "#/definitions/dataset"},
        },
        "sources": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"$ref": "#/definitions/source"},
        },
    },
    "definitions": {
        "env": {
            "type": "object",
            "additionalProperties": False,
            "required": ["env"],
            "properties": {"env": {"type": "string", "pattern": _ENV}},
        },
        "dataset": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "schema": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
            },
        },
        "rule": {
            "type": "object",
            "additionalProperties": False,
            "required": ["source", "destination"],
            "properties": {
                "source": {"type": "string", "minLength": 1},
                "destination": {"type": "string", "minLength": 1},
                "type": {"enum": ["ATTRIBUTE", "EXPRESSION", "STATIC"]},
                "identity": {"type": "boolean"},
                "primary_identity": {"type": "boolean"},
            },
        },
        "schedule": {
            "type": "object",
            "additionalProperties": False,
            "required": ["frequency"],
            "properties": {
                "frequency": {"enum": list(model.FREQUENCIES)},
                "interval": {"type": "integer", "minimum": 1},
                "start": {"type": "integer", "minimum": 0},
            },
        },
        "source": {
            "type": "object",
            "additionalProperties": False,
            "required": ["plugin"],
            "properties": {
                "plugin": {"type": "string", "minLength": 1},
                "name": {"type": "string", "pattern": _NAME},
                "dataset": {"type": "string", "minLength": 1},
                "dataset_id": {"type": "string", "minLength": 1},
                "object": {"type": "string", "minLength": 1},
                "auth_spec": {"type": "string", "minLength": 1},
                "tenant": {"type": "string", "minLength": 1},
                "authenticated": {"type": "boolean"},
                "insecure_allow_unsigned": {"type": "boolean"},
                "webhook_base": {"type": "string", "pattern": "^https?://"},
                "params": {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [
                            {"type": ["string", "number", "boolean"]},
                            {"$ref": "#/definitions/env"},
                        ]
                    },
                },
                "mapping": {
                    "anyOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "items": {"$ref": "#/definitions/rule"}},
                    ]
                },
                "schedule": {"$ref": "#/definitions/schedule"},
            },
        },
    },
}

# Fixes for the schema's rules, by the key that broke one.
_FIXES = {
    "env": 'write it as { env = "NAME" }, NAME an environment variable',
    "frequency": "one of once, minute, hour, day, week",
    "type": "one of ATTRIBUTE, EXPRESSION, STATIC",
    "mapping": 'a JSON file path ("rules.json") or [[sources.NAME.mapping]] tables',
}


@define(kw_only=True, frozen=True)
class EnvRef:
    """A value read from an environment variable when the file is applied."""

    env: str


@define(kw_only=True)
class DatasetDecl:
    """A dataset the project declares: found by name, created when missing, never deleted."""

    key: str
    name: str
    schema: str | None = None
    description: str | None = None


@define(kw_only=True)
class SourceDecl:
    """A source the project declares (``[sources.KEY]``)."""

    key: str
    name: str
    plugin: str
    dataset: str | None = None
    dataset_id: str | None = None
    params: dict[str, Any] = field(factory=dict)
    object: str | None = None
    auth_spec: str | None = None
    tenant: str = "sourceflow"
    authenticated: bool = False
    insecure_allow_unsigned: bool = False
    webhook_base: str | None = None
    mapping: model.MappingSet | None = None
    schedule: model.ScheduleParams | None = None


@define(kw_only=True)
class Project:
    """A loaded, validated project file."""

    path: Path
    name: str
    datasets: dict[str, DatasetDecl] = field(factory=dict)
    sources: dict[str, SourceDecl] = field(factory=dict)

    @property
    def state_path(self) -> Path:
        """Where the project's state lives: ``.sourceflow/state.json`` beside the file."""
        return self.path.parent / ".sourceflow" / "state.json"


def load(path: Path | str, registry: Registry) -> Project:
    """Read and validate a project file.

    :raises InvalidBody: listing every problem as ``key: what is wrong; the fix``.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no project file {path}",
            hint="write one (see docs/project-file.md) or run: sourceflow export",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse(raw, path, registry)


def parse(raw: Mapping[str, Any], path: Path, registry: Registry) -> Project:
    """A project from the parsed TOML ``raw`` of ``path``; see :func:`load`."""
    problems = [_schema_problem(e) for e in _schema_errors(raw)]
    if problems:
        raise InvalidBody(str(path), sorted(set(problems)))
    tenant = raw["project"].get("tenant")
    project = Project(path=path, name=raw["project"]["name"])
    for key, body in (raw.get("datasets") or {}).items():
        project.datasets[key] = DatasetDecl(
            key=key,
            name=body.get("name", key),
            schema=body.get("schema"),
            description=body.get("description"),
        )
    names: dict[str, str] = {}
    for key, body in (raw.get("sources") or {}).items():
        decl, found = _source(key, body, path, project, registry, tenant)
        problems.extend(found)
        if decl.name in names:
            problems.append(
                f"sources.{key}.name: {decl.name!r} is also the name of sources.{names[decl.name]}"
                "; names are unique in a sandbox: choose another"
            )
        names[decl.name] = key
        project.sources[key] = decl
    if problems:
        raise InvalidBody(str(path), problems)
    return project


def _schema_errors(raw: Mapping[str, Any]) -> list[jsonschema.ValidationError]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    found: list[jsonschema.ValidationError] = []
    for error in validator.iter_errors(dict(raw)):
        # anyOf hides which branch was meant: an error inside a branch (a rule missing its
        # destination) says more than "matches none of the branches".
        deep = [e for e in error.context or [] if e.relative_path]
        found.extend(deep if error.validator == "anyOf" and deep else [error])
    return found


def _schema_problem(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(file)"
    last = next((str(p) for p in reversed(error.absolute_path) if isinstance(p, str)), "")
    if error.validator == "anyOf":
        fix = _FIXES.get(last) or 'a string, number, true/false, or { env = "VAR" }'
        return f"{where}: must be {fix}"
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        return f"{where}: {missing} is required; add {missing} = …"
    if error.validator == "additionalProperties":
        extra = str(error.message).split("(")[-1].rstrip(")")
        return f"{where}: unknown key(s) {extra}; remove them or check the spelling"
    if error.validator == "pattern" and last == "env":
        return f"{where}: {_FIXES['env']}"
    if error.validator in ("pattern", "propertyNames"):
        return (
            f"{where}: names take letters, digits, '.', '_' and '-', and start with a letter "
            "or digit"
        )
    if error.validator == "enum":
        choices = "one of " + ", ".join(map(str, error.validator_value))
        return f"{where}: must be {_FIXES.get(last, choices)}"
    if error.validator == "type":
        return f"{where}: must be a {error.validator_value}"
    if error.validator == "minLength":
        return f"{where}: must not be empty"
    if error.validator == "minimum":
        return f"{where}: must not be below {error.validator_value}"
    return f"{where}: breaks the {error.validator!r} rule"


def _source(
    key: str,
    body: Mapping[str, Any],
    path: Path,
    project: Project,
    registry: Registry,
    tenant: str | None,
) -> tuple[SourceDecl, list[str]]:
    at = f"sources.{key}"
    problems: list[str] = []
    decl = SourceDecl(
        key=key,
        name=body.get("name", key),
        plugin=body["plugin"],
        dataset=body.get("dataset"),
        dataset_id=body.get("dataset_id"),
        object=body.get("object"),
        auth_spec=body.get("auth_spec"),
        tenant=body.get("tenant") or tenant or "sourceflow",
        authenticated=body.get("authenticated", False),
        insecure_allow_unsigned=body.get("insecure_allow_unsigned", False),
        webhook_base=body.get("webhook_base"),
    )
    try:
        source = registry.source(decl.plugin)
    except UnknownSource as exc:
        problems.append(f"{at}.plugin: {exc}")
        source = None
    if (decl.dataset is None) == (decl.dataset_id is None):
        problems.append(
            f'{at}: give dataset = "KEY" (a [datasets.KEY] of this file) or dataset_id = '
            '"ID" (an existing dataset), one of the two'
        )
    elif decl.dataset is not None and decl.dataset not in project.datasets:
        known = ", ".join(project.datasets) or "none"
        problems.append(
            f"{at}.dataset: no [datasets.{decl.dataset}] in this file (it has: {known}); "
            "declare it or fix the name"
        )
    for name, value in (body.get("params") or {}).items():
        if isinstance(value, Mapping):
            decl.params[name] = EnvRef(env=value["env"])
        elif redact.is_secret_key(name):
            problems.append(
                f"{at}.params.{name}: a secret is never written in the file; write "
                f'{name} = {{ env = "VAR" }} and export VAR'
            )
        else:
            decl.params[name] = value
    mapping = body.get("mapping")
    if isinstance(mapping, str):
        decl.mapping, problem = _mapping_file(path.parent / mapping, f"{at}.mapping")
        problems.extend([problem] if problem else [])
    elif isinstance(mapping, list):
        decl.mapping = model.MappingSet(mappings=[_rule(r) for r in mapping])
    schedule = body.get("schedule")
    if schedule is not None:
        if source is not None and source.mode != "scheduled":
            problems.append(
                f"{at}.schedule: {source.title} is a streaming source; remove the schedule"
            )
        else:
            try:
                decl.schedule = model.ScheduleParams(
                    start_time=schedule.get("start"),
                    frequency=schedule["frequency"],
                    interval=schedule.get("interval"),
                )
            except model.RuleViolation as exc:
                problems.append(f"{at}.schedule: {exc}")
    if source is not None and decl.authenticated:
        props = _auth_props(source, decl.auth_spec)
        if "authenticationRequired" not in props and source.inlet_on != "flow":
            problems.append(
                f"{at}.authenticated: {source.title} has no authenticated inlet; remove it"
            )
    return decl, problems


def _mapping_file(path: Path, at: str) -> tuple[model.MappingSet | None, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"{at}: cannot read {path}: {exc}; give a JSON file of mapping rules"
    if isinstance(data, list):
        data = {"mappings": data}
    try:
        return wire.from_json(data, model.MappingSet), None
    except InvalidBody as exc:
        return None, f"{at}: {path} is not a mapping set: {exc.problems[0]}"


def _rule(body: Mapping[str, Any]) -> model.MappingRule:
    return model.MappingRule(
        source_attribute=body["source"],
        destination_xdm_path=body["destination"],
        source_type=body.get("type", "ATTRIBUTE"),
        identity=body.get("identity", False),
        primary_identity=body.get("primary_identity"),
    )


def _auth_props(source: Any, auth_spec: str | None) -> Mapping[str, Any]:
    chosen = (
        source.connection_spec.auth_spec_named(auth_spec)
        if auth_spec
        else (source.connection_spec.auth_spec or [None])[0]
    )
    return chosen.spec.get("properties", {}) if chosen is not None else {}


def credentials_for(
    source: Any,
    given: Mapping[str, Any],
    *,
    authenticated: bool,
    raw: bool | None,
    mapped: bool,
    auth_spec: str | None = None,
) -> dict[str, Any]:
    """The params a source is connected with: ``given``, plus the HTTP API's ``dataType``
    (raw records when mapped) and ``authenticationRequired`` when ``authenticated``."""
    credentials = dict(given)
    props = _auth_props(source, auth_spec)
    # Raw records are what a mapping reads; XDM envelopes need none.
    if "dataType" in props:
        credentials.setdefault("dataType", "raw" if (raw if raw is not None else mapped) else "xdm")
    if authenticated:
        # A flow that owns its inlet takes the option whatever its auth spec says.
        if "authenticationRequired" not in props and source.inlet_on != "flow":
            raise ConfigError(f"source {source.name!r} has no authenticated inlet option")
        credentials["authenticationRequired"] = True
    return credentials


# --- running a project ------------------------------------------------------------------------


@define(kw_only=True)
class ProjectPlan:
    """What ``plan``, ``apply`` or ``destroy`` found or did, source by source."""

    project: str
    sandbox: str
    datasets: list[Change] = field(factory=list)
    sources: list[SourcePlan] = field(factory=list)

    @property
    def pending(self) -> list[Change]:
        """Every change that writes something."""
        return [c for c in self.datasets if c.action != "unchanged"] + [
            c for s in self.sources for c in s.pending
        ]

    @property
    def drifted(self) -> list[Change]:
        """Every resource that drifted."""
        return [c for s in self.sources for c in s.drifted]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view for ``--json``."""
        return {
            "project": self.project,
            "sandbox": self.sandbox,
            "datasets": [c.as_json() for c in self.datasets],
            "sources": [s.as_json() for s in self.sources],
            "pending": len(self.pending),
            "drifted": len(self.drifted),
        }


class ProjectRun:
    """Plans, applies and destroys one project against the platform the client points at.

    :param environ: where ``{ env = "VAR" }`` values come from (``os.environ`` by default).
    """

    def __init__(
        self,
        project: Project,
        client: FlowServiceClient,
        registry: Registry,
        *,
        state: StateFile | None = None,
        progress: Progress = _quiet,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.project = project
        self.client = client
        self.registry = registry
        self.state = state if state is not None else StateFile(project.state_path)
        self.progress = progress
        self.environ = os.environ if environ is None else environ
        self.engine = Engine(client, registry, self.state, progress=progress)

    @property
    def _settings(self) -> Any:
        return self.client.settings

    def _owned(self) -> list[Record]:
        self.state.reload()
        s = self._settings
        return [
            r for r in self.state.find(s.platform_url, s.sandbox) if r.project == self.project.name
        ]

    def _check_owner(self, decl: SourceDecl) -> None:
        s = self._settings
        record = self.state.get(decl.name, s.platform_url, s.sandbox)
        if record is not None and record.project not in (None, self.project.name):
            raise SourceflowError(
                f"sources.{decl.key}: {decl.name!r} belongs to the project {record.project!r}",
                hint="give this source another name, or remove it from the other project",
            )

    def _other_source(self, decl: SourceDecl) -> Record | None:
        """The record of ``decl``'s name when it was made for another plugin."""
        s = self._settings
        record = self.state.get(decl.name, s.platform_url, s.sandbox)
        wanted = self.registry.source(decl.plugin).name
        return record if record is not None and record.source != wanted else None

    def plan(self) -> ProjectPlan:
        """What :meth:`apply` would do, and what drifted; writes nothing."""
        result = ProjectPlan(project=self.project.name, sandbox=self._settings.sandbox)
        datasets = self._datasets(result, write=False)
        for _, request, old in self._declared(datasets):
            if old is not None:
                result.sources.append(self.engine.teardown_plan(old))
            result.sources.append(
                self.engine.plan(request, owner=self.project.name, fresh=old is not None)
            )
        for record in self._undeclared():
            result.sources.append(self.engine.teardown_plan(record))
        return result

    def apply(self) -> ProjectPlan:
        """Make the platform hold what the file declares, under the project's lock; sources the
        file no longer declares (that this project created) are deleted."""
        result = ProjectPlan(project=self.project.name, sandbox=self._settings.sandbox)
        with lock.held(self._settings, f"project:{self.project.name}", waiting=self._waiting):
            datasets = self._datasets(result, write=True)
            for decl, request, old in self._declared(datasets):
                if old is not None:  # another plugin under the same name: a new source
                    result.sources.append(self._destroy(old))
                self.progress("source", "apply", decl.name)
                with lock.held(self._settings, decl.name, waiting=self._waiting):
                    plan, _ = self.engine.apply(request, owner=self.project.name)
                result.sources.append(plan)
            for record in self._undeclared():
                result.sources.append(self._destroy(record))
        return result

    def _declared(
        self, datasets: Mapping[str, str]
    ) -> Iterator[tuple[SourceDecl, Any, Record | None]]:
        """Each declared source, in the file's order, once its owner is checked: its request,
        and the record of another plugin's source under its name (to be replaced), if any."""
        for decl in self.project.sources.values():
            self._check_owner(decl)
            yield decl, self.request(decl, datasets), self._other_source(decl)

    def _undeclared(self) -> list[Record]:
        """The sources this project created that the file no longer declares."""
        declared = {decl.name for decl in self.project.sources.values()}
        return [record for record in self._owned() if record.name not in declared]

    def destroy(self) -> ProjectPlan:
        """Delete every source this project created (datasets stay: they hold data)."""
        result = ProjectPlan(project=self.project.name, sandbox=self._settings.sandbox)
        with lock.held(self._settings, f"project:{self.project.name}", waiting=self._waiting):
            for record in self._owned():
                result.sources.append(self._destroy(record))
        return result

    def _destroy(self, record: Record) -> SourcePlan:
        plan = self.engine.teardown_plan(record)
        self.progress("source", "delete", record.name)
        with lock.held(self._settings, record.name, waiting=self._waiting):
            self.engine.teardown(record)
        return plan

    def _waiting(self, path: Path) -> None:
        self.progress("lock", "waiting", f"another run holds {path}")

    def _datasets(self, result: ProjectPlan, *, write: bool) -> dict[str, str]:
        """Each declared dataset's id, found by name or (when writing) created."""
        if not self.project.datasets:
            return {}
        existing: dict[str, model.Dataset] = {}
        for dataset in self.client.datasets.list():
            if dataset.name not in existing and dataset.id:
                existing[dataset.name] = dataset
        ids: dict[str, str] = {}
        for key, decl in self.project.datasets.items():
            found = existing.get(decl.name)
            change = Change(name=decl.name, step="dataset", action="unchanged")
            if found is not None:
                ids[key] = change.id = str(found.id)
                want = decl.schema
                have = found.schema_ref.id if found.schema_ref else None
                if want and want != have:
                    change.drift = [f"schema: {have!r} here, {want!r} in the file"]
                    change.reason = "datasets are never changed or deleted by sourceflow"
            elif write:
                body = model.Dataset(
                    name=decl.name,
                    description=decl.description,
                    schema_ref=model.XdmSchemaRef(id=decl.schema) if decl.schema else None,
                )
                ids[key] = change.id = self.client.datasets.create(body)
                change.action = "create"
                self.progress("dataset", "created", f"{decl.name} {ids[key]}")
            else:
                change.action = "create"
                ids[key] = f"(new dataset {decl.name})"
                self.engine.known_datasets[ids[key]] = model.Dataset(
                    name=decl.name,
                    schema_ref=model.XdmSchemaRef(id=decl.schema) if decl.schema else None,
                )
            result.datasets.append(change)
        return ids

    def request(self, decl: SourceDecl, datasets: Mapping[str, str]) -> ConnectRequest:
        """The :class:`~sourceflow.lifecycle.ConnectRequest` a declared source stands for,
        with ``{ env = … }`` values read now."""
        from sourceflow.engine.reconcile import ConnectRequest

        given: dict[str, Any] = {}
        missing: list[str] = []
        for key, value in decl.params.items():
            if isinstance(value, EnvRef):
                if not self.environ.get(value.env):
                    missing.append(f"sources.{decl.key}.params.{key}: ${value.env} is not set")
                    continue
                given[key] = self.environ[value.env]
                if redact.is_secret_key(key):
                    redact.register(given[key])
            else:
                given[key] = value
        if missing:
            raise InvalidBody(
                f"{self.project.path} (export the variables it names, then run again)", missing
            )
        source = self.registry.source(decl.plugin)
        credentials = credentials_for(
            source,
            given,
            authenticated=decl.authenticated,
            raw=None,
            mapped=decl.mapping is not None,
            auth_spec=decl.auth_spec,
        )
        dataset_id = datasets[decl.dataset] if decl.dataset else str(decl.dataset_id)
        return ConnectRequest(
            source=source.name,
            name=decl.name,
            dataset_id=dataset_id,
            credentials=credentials,
            mapping=attrs.evolve(decl.mapping) if decl.mapping else None,
            object=decl.object,
            tenant=decl.tenant,
            auth_spec=decl.auth_spec,
            schedule=decl.schedule,
            insecure_allow_unsigned=decl.insecure_allow_unsigned,
            webhook_base=decl.webhook_base,
        )


# --- export -----------------------------------------------------------------------------------

_SUFFIX = " flow"
_SKIP_PARAMS = ("inletUrl", "inletId", "authenticationRequired")


def export(
    client: FlowServiceClient,
    registry: Registry,
    state: StateFile,
    project_name: str,
    *,
    flow_ids: list[str] | None = None,
    note: Callable[[str], None] = lambda _: None,
) -> str:
    """The text of a project file declaring the flows that exist (all of the sandbox's, or
    ``flow_ids``), and their resources recorded in ``state`` as the project's, so that
    ``apply`` adopts them instead of creating twins. Secrets become ``{ env = … }``."""
    flows = [client.flows.get(i) for i in flow_ids] if flow_ids else list(client.flows.list())
    settings = client.settings
    datasets: dict[str, dict[str, Any]] = {}
    sources: dict[str, dict[str, Any]] = {}
    for flow in flows:
        if not flow.source_connection_ids or not flow.target_connection_ids:
            note(f"flow {flow.id}: no source or target connection; skipped")
            continue
        sc = client.source_connections.get(flow.source_connection_ids[0])
        try:
            source = registry.source(sc.connection_spec.id)
        except UnknownSource:
            note(f"flow {flow.id}: no installed plugin for connection spec {sc.connection_spec.id}")
            continue
        name = _slug(flow.name.removesuffix(_SUFFIX))
        entry: dict[str, Any] = {"plugin": source.name}
        params: dict[str, Any] = {}
        ids = {"source_connection": str(sc.id), "flow": str(flow.id)}
        authenticated = bool((flow.options or {}).get("authenticationRequired"))
        if sc.base_connection_id:
            base = client.connections.get(sc.base_connection_id)
            ids["base_connection"] = str(base.id)
            auth_params = dict(base.auth.params) if base.auth else {}
            authenticated = authenticated or auth_params.get("authenticationRequired") is True
            for key in ("name", "sourceId"):
                if auth_params.get(key) == name:
                    auth_params.pop(key)
            params.update(auth_params)
            specs = source.connection_spec.auth_spec
            if base.auth and specs and base.auth.spec_name != specs[0].name:
                entry["auth_spec"] = base.auth.spec_name
        params.update(sc.params or {})
        target = client.target_connections.get(flow.target_connection_ids[0])
        ids["target_connection"] = str(target.id)
        dataset_id = str((target.params or {}).get("dataSetId", ""))
        try:
            dataset = client.datasets.get(dataset_id)
            key = _slug(dataset.name)
            datasets[key] = {"name": dataset.name} if key != dataset.name else {}
            if dataset.schema_ref:
                datasets[key]["schema"] = dataset.schema_ref.id
            entry["dataset"] = key
        except NotFound:
            entry["dataset_id"] = dataset_id
        if authenticated:
            entry["authenticated"] = True
        shown: dict[str, Any] = {}
        for key, value in params.items():
            if key in _SKIP_PARAMS:
                continue
            if redact.is_secret_key(key):
                shown[key] = {"env": _env_name(name, key)}
            else:
                shown[key] = value
        if source.delivery_secret and source.delivery_secret not in shown:
            entry["insecure_allow_unsigned"] = True
        if shown:
            entry["params"] = shown
        if flow.mapping_id:
            with _suppress_not_found():
                mapping = client.mapping_sets.get(flow.mapping_id)
                ids["mapping"] = str(mapping.id)
                entry["mapping"] = [_rule_entry(r) for r in mapping.mappings]
        if flow.schedule_params is not None and source.mode == "scheduled":
            sp = flow.schedule_params
            entry["schedule"] = {
                k: v
                for k, v in (
                    ("frequency", sp.frequency),
                    ("interval", sp.interval),
                    ("start", sp.start_time),
                )
                if v is not None
            }
        sources[name] = entry
        record = state.get(name, settings.platform_url, settings.sandbox) or Record(
            name=name,
            source=source.name,
            platform_url=settings.platform_url,
            sandbox=settings.sandbox,
        )
        record.ids.update(ids)
        record.project = project_name
        inlet = (flow.options or {}) if source.inlet_on == "flow" else {}
        if source.inlet_on == "connection" and sc.base_connection_id:
            base = client.connections.get(sc.base_connection_id)
            inlet = dict(base.auth.params) if base.auth else {}
        if inlet.get("inletId"):
            record.ids["endpoint"] = str(inlet["inletId"])
            record.endpoint = {
                "inletUrl": inlet.get("inletUrl"),
                "inletId": inlet.get("inletId"),
                "authenticationRequired": inlet.get("authenticationRequired") is True,
            }
        state.save(record)
        note(f"flow {flow.id} → [sources.{name}]")
    return dumps({"project": {"name": project_name}, "datasets": datasets, "sources": sources})


class _suppress_not_found:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, NotFound)


def _rule_entry(rule: model.MappingRule) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "source": rule.source_attribute,
        "destination": rule.destination_xdm_path,
    }
    if rule.source_type != "ATTRIBUTE":
        entry["type"] = rule.source_type
    if rule.identity:
        entry["identity"] = True
    if rule.primary_identity is not None:
        entry["primary_identity"] = rule.primary_identity
    return entry


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "source"
    return slug if slug[0].isalnum() else "s" + slug


def _env_name(name: str, key: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", f"{name}_{key}".upper())


# --- a small TOML writer (tomllib reads only) -------------------------------------------------


def dumps(doc: Mapping[str, Any]) -> str:
    """TOML text for a project document: tables, arrays of tables, inline env refs."""
    lines: list[str] = []
    _table(lines, [], doc)
    return "\n".join(lines).strip() + "\n"


def _table(lines: list[str], path: list[str], doc: Mapping[str, Any]) -> None:
    def nested(value: Any) -> bool:
        tables = isinstance(value, list) and value and all(isinstance(i, Mapping) for i in value)
        return bool(tables) or (isinstance(value, Mapping) and not _inline(value))

    scalars = {k: v for k, v in doc.items() if not nested(v)}
    if path and (scalars or not doc):
        lines.extend(["", f"[{'.'.join(_key(p) for p in path)}]"])
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in doc.items():
        if key in scalars:
            continue
        if isinstance(value, list):
            for item in value:
                lines.extend(["", f"[[{'.'.join(_key(p) for p in [*path, key])}]]"])
                for k, v in item.items():
                    lines.append(f"{_key(k)} = {_value(v)}")
        else:
            _table(lines, [*path, key], value)


def _inline(value: Mapping[str, Any]) -> bool:
    return set(value) == {"env"}


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _value(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
