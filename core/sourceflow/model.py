"""attrs classes for the Flow Service, Data Prep, Catalog and inlet resources.

Field names are snake_case here; :mod:`sourceflow.wire` maps them to Adobe's camelCase JSON.
Optional fields default to ``None`` and are left out of the JSON, as Adobe leaves them out.
Rules that Adobe enforces on a value (a schedule's frequency and interval) are checked when the
object is built, so a bad value is refused wherever it comes from: a request body, a plugin, a
CLI flag.
"""

from __future__ import annotations

from typing import Any, Literal

from attrs import define, field

from sourceflow.hooktypes import JSON


class RuleViolation(ValueError):
    """A value breaks one of Adobe's rules; ``field`` is its camelCase name."""

    def __init__(self, field: str, rule: str, value: Any = None) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"{field}: {rule}{shown}")


@define(kw_only=True)
class SpecRef:
    """A reference to a connection or flow spec: ``{"id", "version"}``."""

    id: str
    version: str = "1.0"


@define(kw_only=True)
class Meta:
    """Fields the platform sets on every stored resource; clients never send them."""

    id: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    created_by: str | None = None
    updated_by: str | None = None
    created_client: str | None = None
    updated_client: str | None = None
    sandbox_id: str | None = None
    sandbox_name: str | None = None
    ims_org_id: str | None = None
    state: str | None = None
    version: str | None = None
    etag: str | None = None


# --- connections ------------------------------------------------------------------------------


@define(kw_only=True)
class Auth:
    """The ``auth`` block of a base connection: an auth spec's name and its params."""

    spec_name: str
    params: JSON = field(factory=dict)


@define(kw_only=True)
class Connection(Meta):
    """A base connection: a source's credentials (``POST /connections``)."""

    name: str
    connection_spec: SpecRef
    description: str | None = None
    provider_id: str | None = None
    auth: Auth | None = None


@define(kw_only=True)
class DataFormat:
    """A source connection's ``data``: the format records arrive in."""

    format: str = "json"


@define(kw_only=True)
class SourceConnection(Meta):
    """Where records come from (``POST /sourceConnections``).

    Sources with credentials name their ``base_connection_id``; generic streaming sources
    (Shopify, Chatlio) have no base connection and name a ``provider_id`` instead.
    """

    name: str
    connection_spec: SpecRef
    description: str | None = None
    base_connection_id: str | None = None
    provider_id: str | None = None
    data: DataFormat | None = None
    params: JSON | None = None


@define(kw_only=True)
class SchemaRef:
    """A target connection's XDM schema: ``{"id", "version"}``."""

    id: str
    version: str = "application/vnd.adobe.xed-full+json;version=1"


@define(kw_only=True)
class TargetData:
    """A target connection's ``data``: output format and schema."""

    format: str = "parquet_xdm"
    schema: SchemaRef | None = None


@define(kw_only=True)
class TargetConnection(Meta):
    """Where records land (``POST /targetConnections``): the data lake and a dataset."""

    name: str
    connection_spec: SpecRef
    description: str | None = None
    data: TargetData | None = None
    params: JSON | None = None

    @property
    def dataset_id(self) -> str | None:
        """The target dataset, from ``params.dataSetId``."""
        value = (self.params or {}).get("dataSetId")
        return str(value) if value is not None else None


# --- mapping ----------------------------------------------------------------------------------


SourceType = Literal["ATTRIBUTE", "EXPRESSION", "STATIC"]


@define(kw_only=True)
class MappingRule:
    """One Data Prep mapping: a source attribute or expression to an XDM path."""

    source_attribute: str
    destination_xdm_path: str
    source_type: SourceType = "ATTRIBUTE"
    identity: bool = False
    primary_identity: bool | None = None
    version: int = 0
    id: str | None = None
    description: str | None = None

    @classmethod
    def in_tenant(
        cls, source: str, path: str, tenant: str, *, identity: bool = False
    ) -> MappingRule:
        """A rule from ``source`` to ``_{tenant}.{path}``: the organization's own XDM namespace,
        where a source's default mappings put the fields standard XDM has no place for."""
        return cls(
            source_attribute=source, destination_xdm_path=f"_{tenant}.{path}", identity=identity
        )


@define(kw_only=True)
class XdmSchemaRef:
    """``{"id", "contentType"}`` of an XDM schema, as Data Prep names it."""

    id: str
    content_type: str = "application/vnd.adobe.xed-full+json;version=1"


@define(kw_only=True)
class OutputSchema:
    """A mapping set's ``outputSchema``."""

    schema_ref: XdmSchemaRef


@define(kw_only=True)
class MappingSet:
    """A Data Prep mapping set (``POST /conversion/mappingSets``).

    Older pages send ``xdmSchema``/``xdmVersion`` instead of ``outputSchema``; the converter
    reads both and writes ``outputSchema``.
    """

    mappings: list[MappingRule]
    output_schema: OutputSchema | None = None
    name: str | None = None
    id: str | None = None
    version: int | None = None
    created_date: str | None = None
    modified_date: str | None = None
    created_by: str | None = None
    modified_by: str | None = None


# --- flows and runs ---------------------------------------------------------------------------


Frequency = Literal["once", "minute", "hour", "day", "week"]
FREQUENCIES: tuple[str, ...] = ("once", "minute", "hour", "day", "week")
MIN_INTERVAL = {"minute": 15, "hour": 1, "day": 1, "week": 1}


def _whole_number(name: str, value: Any) -> int | None:
    # Adobe's own pages send startTime as "1710267858" and interval as 15: take either.
    if value is None:
        return None
    if isinstance(value, bool):
        raise RuleViolation(name, "must be a whole number", value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise RuleViolation(name, "must be a whole number", value)


def _start_time(value: Any) -> int | None:
    return _whole_number("scheduleParams.startTime", value)


def _interval(value: Any) -> int | None:
    return _whole_number("scheduleParams.interval", value)


def _check_frequency(instance: Any, attribute: Any, value: str) -> None:
    if value not in FREQUENCIES:
        raise RuleViolation(
            "scheduleParams.frequency", f"must be one of {', '.join(FREQUENCIES)}", value
        )


@define(kw_only=True)
class ScheduleParams:
    """When a scheduled flow runs: ``startTime`` (epoch seconds), ``frequency``, ``interval``.

    Adobe's rules: ``once`` takes no interval; ``minute`` needs an interval of at least 15;
    ``hour``, ``day`` and ``week`` at least 1.
    """

    start_time: int | None = field(default=None, converter=_start_time)
    frequency: str = field(default="once", validator=_check_frequency)
    interval: int | None = field(default=None, converter=_interval)
    backfill: bool | None = None

    def __attrs_post_init__(self) -> None:
        if self.frequency == "once":
            if self.interval is not None:
                raise RuleViolation(
                    "scheduleParams.interval",
                    "must be left out when frequency is 'once' (a one-time run has no interval)",
                    self.interval,
                )
            return
        if self.interval is None:
            raise RuleViolation(
                "scheduleParams.interval", f"is required when frequency is {self.frequency!r}"
            )
        least = MIN_INTERVAL[self.frequency]
        if self.interval < least:
            raise RuleViolation(
                "scheduleParams.interval",
                f"must be at least {least} when frequency is {self.frequency!r}",
                self.interval,
            )
        if self.start_time is not None and self.start_time < 0:
            raise RuleViolation(
                "scheduleParams.startTime", "must be epoch seconds, not negative", self.start_time
            )


@define(kw_only=True)
class Transformation:
    """A flow transformation; for mapping: ``{"name": "Mapping", "params": {mappingId, ...}}``."""

    name: str
    params: JSON = field(factory=dict)

    @property
    def mapping_id(self) -> str | None:
        """The mapping set this transformation applies, if it is a mapping."""
        value = self.params.get("mappingId")
        return str(value) if value is not None else None


@define(kw_only=True)
class Flow(Meta):
    """A dataflow (``POST /flows``) joining source and target connections under a flow spec.

    Generic streaming flows carry their inlet in ``options.inletUrl``.
    """

    name: str
    flow_spec: SpecRef
    source_connection_ids: list[str] = field(factory=list)
    target_connection_ids: list[str] = field(factory=list)
    description: str | None = None
    transformations: list[Transformation] | None = None
    schedule_params: ScheduleParams | None = None
    options: JSON | None = None

    @property
    def mapping_id(self) -> str | None:
        """The mapping set applied by this flow, if any."""
        for t in self.transformations or []:
            if t.name.lower() == "mapping" and t.mapping_id:
                return t.mapping_id
        return None


@define(kw_only=True)
class RecordSummary:
    """How many records a run read, wrote and failed."""

    input_record_count: int = 0
    output_record_count: int = 0
    failed_record_count: int = 0


@define(kw_only=True)
class DurationSummary:
    """When a run started and completed, in epoch milliseconds."""

    started_at_utc: int | None = None
    completed_at_utc: int | None = None


@define(kw_only=True)
class StatusError:
    """One error of a run: ``{"code", "message"}``."""

    code: str
    message: str


@define(kw_only=True)
class StatusSummary:
    """A run's status, its errors and, in ``extensions``, what the transfer went through
    (``retries``, ``throttled``: counts the source's plugin kept)."""

    status: str = "inProgress"
    errors: list[StatusError] | None = None
    extensions: dict[str, Any] | None = None


@define(kw_only=True)
class RunMetrics:
    """Adobe's run metrics: record, duration and status summaries."""

    record_summary: RecordSummary = field(factory=RecordSummary)
    duration_summary: DurationSummary = field(factory=DurationSummary)
    status_summary: StatusSummary = field(factory=StatusSummary)


@define(kw_only=True)
class Run(Meta):
    """One execution of a flow (``GET /runs?property=flowId==...``); Adobe spells its etag
    ``eTag``."""

    flow_id: str
    flow_spec: SpecRef | None = None
    metrics: RunMetrics | None = None


@define(kw_only=True)
class RunWindow:
    """``params`` of an on-demand run: when it starts and the window of data it pulls
    (epoch milliseconds, all optional)."""

    start_time: int | None = None
    window_start_time: int | None = None
    window_end_time: int | None = None


@define(kw_only=True)
class RunRequest:
    """``POST /runs``: start a run of a scheduled flow now."""

    flow_id: str
    params: RunWindow | None = None


# --- catalog and inlet ------------------------------------------------------------------------


@define(kw_only=True)
class DatasetClassification:
    """A dataset's ``classification``: how its records behave and who manages it."""

    data_behavior: str | None = None
    managed_by: str | None = None


@define(kw_only=True)
class FileDescription:
    """A dataset's ``fileDescription``: how Catalog stores its files."""

    persisted: bool | None = None
    container_format: str | None = None
    format: str | None = None


@define(kw_only=True)
class Dataset:
    """A Catalog dataset: where a target connection's rows land.

    The fields Catalog documents for a dataset object; Catalog sets ``imsOrg``, ``sandboxId``,
    ``created``/``updated``, the ``created*``/``updated*`` users, ``version``, ``state``,
    ``files`` and the ``adobe/…`` tags, whatever the creator sends.
    """

    name: str
    id: str | None = None
    description: str | None = None
    schema_ref: XdmSchemaRef | None = None
    tags: dict[str, list[str]] | None = None
    classification: DatasetClassification | None = None
    file_description: FileDescription | None = None
    unified_tags: list[str] | None = None
    system_labels: list[str] | None = None
    ims_org: str | None = None
    sandbox_id: str | None = None
    state: str | None = None
    version: str | None = None
    files: str | None = None
    created: int | None = None
    updated: int | None = None
    created_client: str | None = None
    created_user: str | None = None
    updated_user: str | None = None


@define(kw_only=True)
class Inlet:
    """A streaming endpoint: its id, URL and whether senders must present a token."""

    inlet_id: str
    inlet_url: str
    authentication_required: bool = False


@define(kw_only=True)
class Receipt:
    """The inlet's answer to one accepted message: ``{inletId, xactionId, receivedTimeMs}``."""

    inlet_id: str
    xaction_id: str
    received_time_ms: int


@define(kw_only=True)
class BatchItemResult:
    """One message's result in a batch answer; failures carry ``statusCode`` and ``message``."""

    xaction_id: str | None = None
    status_code: int | None = None
    message: str | None = None


@define(kw_only=True)
class BatchReceipt:
    """The inlet's ``207`` answer to ``/collection/batch``: one result per message, in order."""

    inlet_id: str
    batch_id: str
    received_time_ms: int
    responses: list[BatchItemResult] = field(factory=list)


@define(kw_only=True)
class CreatedRef:
    """What creating a Flow Service resource answers: ``{"id", "etag"}``."""

    id: str
    etag: str | None = None
