"""The small typed records that hooks take and return.

Flow Service resources live in :mod:`sourceflow.model`; these records are what passes between
the core and a plugin around them. The connection and flow specs a :class:`Source` carries are
resources too, but their home is here, beside ``Source``: a plugin builds its ``Source`` when it
is loaded, and importing :mod:`sourceflow.model` for them would build every resource class as
well (120 M instructions more, callgrind; ``sourceflow plugins`` takes 371 M in all).
:mod:`sourceflow.wire` converts them as it converts the models.

The records only hook calls build (``Delivery``, ``Verdict``, ``ReadResult`` …) are defined in
:mod:`sourceflow.hookcalls` and loaded from here on first use, so that loading the plugins
builds only the specs and sources they declare. All are dataclasses: attrs would cost start-up
its own import besides (``sourceflow plugins`` never imports attrs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

JSON = dict[str, Any]

PROVIDER_STREAMING = "521eee4d-8cbe-4906-bb48-fb6bd4450033"
DATA_LAKE_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
GENERIC_STREAMING_FLOW_SPEC_ID = "e77fde5a-22a8-11ed-861d-0242ac120002"

InletOwner = Literal["connection", "flow"]


# --- connection specs -------------------------------------------------------------------------


@dataclass(kw_only=True)
class AuthSpec:
    """One way to authenticate: ``spec`` is a JSON schema of the ``auth.params`` it takes."""

    name: str
    type: str
    spec: JSON
    description: str | None = None


@dataclass(kw_only=True)
class SourceSpec:
    """The schema of a source connection's ``params``, and catalogue attributes."""

    name: str | None = None
    type: str | None = None
    spec: JSON | None = None
    attributes: JSON | None = None


@dataclass(kw_only=True)
class ExploreSpec:
    """How explore requests and answers look for this source."""

    name: str | None = None
    type: str | None = None
    request_spec: JSON | None = None
    response_spec: JSON | None = None


@dataclass(kw_only=True)
class ConnectionSpec:
    """A connector's fixed description: its id, auth specs, source spec and explore spec."""

    id: str
    name: str
    provider_id: str
    version: str = "1.0"
    type: str | None = None
    auth_spec: list[AuthSpec] | None = None
    source_spec: SourceSpec | None = None
    explore_spec: ExploreSpec | None = None
    attributes: JSON | None = None

    def auth_spec_named(self, name: str) -> AuthSpec | None:
        """The auth spec called ``name``, or None."""
        return next((a for a in self.auth_spec or [] if a.name == name), None)

    def secret_fields(self) -> frozenset[str]:
        """The fields its auth specs and source spec mark secret (:func:`secret_fields`)."""
        schemas = [a.spec for a in self.auth_spec or []]
        if self.source_spec is not None and self.source_spec.spec:
            schemas.append(self.source_spec.spec)
        return frozenset().union(*(secret_fields(s) for s in schemas))


def secret_fields(schema: Any) -> frozenset[str]:
    """The one definition of a secret: the properties a JSON schema marks ``"format":
    "password"`` or ``"writeOnly": true``, at any depth.

    A field whose *name* looks secret (``clientSecret``, ``accessToken``) is treated as one too,
    wherever it appears (:func:`sourceflow.redact.is_secret_key`); the schema's marks are what
    catch the others (``signingKey``, ``pin``). Masking in the platform's answers, the state
    file and logs all ask :func:`sourceflow.redact.is_secret_key`, which knows both.
    """
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if isinstance(prop, dict) and (
                    prop.get("format") == "password" or prop.get("writeOnly") is True
                ):
                    found.add(str(name))
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(found)


@dataclass(kw_only=True)
class FlowSpec:
    """Which source and target specs a flow may join, and what it may transform."""

    id: str
    name: str
    provider_id: str
    version: str = "1.0"
    source_connection_spec_ids: list[str] = field(default_factory=list)
    target_connection_spec_ids: list[str] = field(default_factory=list)
    transformations: list[JSON] | None = None
    attributes: JSON | None = None


def generic_streaming_flow_spec(*connection_spec_ids: str) -> FlowSpec:
    """Adobe's generic streaming flow spec (``e77fde5a-…``) for sources without a base
    connection (Shopify Streaming, Chatlio): the flow owns the inlet and maps the records."""
    return FlowSpec(
        id=GENERIC_STREAMING_FLOW_SPEC_ID,
        name="GenericStreamingAEP",
        provider_id=PROVIDER_STREAMING,
        source_connection_spec_ids=list(connection_spec_ids),
        target_connection_spec_ids=[DATA_LAKE_SPEC_ID],
        transformations=[{"name": "Mapping"}],
    )


# --- hook records -----------------------------------------------------------------------------


@dataclass(kw_only=True, frozen=True)
class Source:
    """A source a plugin provides (returned by ``sourceflow_sources``).

    :param name: short name used on the command line, e.g. ``"http"``; unique across plugins.
    :param title: human name, e.g. ``"HTTP API"``.
    :param connection_spec: the connector's connection spec, served at ``/connectionSpecs``.
    :param flow_specs: the flow specs its flows use; ``flow_specs[0]`` is the default.
    :param mode: ``"streaming"`` (records are pushed to an inlet) or ``"scheduled"`` (pulled
        by runs through ``sourceflow_read``).
    :param inlet_on: for streaming sources, which resource gets the inlet: the base
        ``"connection"`` (HTTP API: ``auth.params.inletUrl``) or the ``"flow"`` (generic
        streaming: ``options.inletUrl``).
    :param needs_base_connection: False for generic streaming sources whose source connection
        names a ``providerId`` instead of a base connection.
    :param mapping_flow_spec: the flow spec to use when a mapping is given, when it differs
        from the default one (HTTP API: ``c1a19761-…``).
    :param target_format: the target connection's ``data.format``: ``"parquet_xdm"`` (HTTP
        API, Stripe) or ``"json"`` (Adobe's pages for generic streaming sources: Chatlio).
    :param delivery_secret: the connection param holding the secret that signs deliveries
        (Shopify: ``clientSecret``), for a source whose ``sourceflow_verify_delivery`` checks
        signatures. Such a source **fails closed**: its inlet refuses every delivery to a flow
        that has no value for it, and ``connect`` refuses to create such a flow unless told
        ``--insecure-allow-unsigned``. None for a source whose deliveries carry no signature.
    :param unsigned: True declares that the source's deliveries carry no signature at all
        (Chatlio; the HTTP API, which has the IMS token instead): anyone who knows the inlet
        URL can post to it, and ``connect`` says so. A streaming source either verifies its
        deliveries (``sourceflow_verify_delivery`` and ``delivery_secret``) or declares this;
        the conformance suite fails one that does neither.
    """

    name: str
    title: str
    connection_spec: ConnectionSpec
    flow_specs: tuple[FlowSpec, ...] = ()
    mode: Literal["streaming", "scheduled"] = "streaming"
    inlet_on: InletOwner | None = None
    needs_base_connection: bool = True
    mapping_flow_spec: str | None = None
    target_format: str = "parquet_xdm"
    description: str = ""
    delivery_secret: str | None = None
    unsigned: bool = False

    @property
    def id(self) -> str:
        """The connection spec id, which identifies the source on the platform."""
        return self.connection_spec.id

    @property
    def secret_params(self) -> frozenset[str]:
        """Every param of this source that holds a secret: those its specs mark
        (:func:`secret_fields`) and its ``delivery_secret``."""
        extra = {self.delivery_secret} if self.delivery_secret else set()
        return self.connection_spec.secret_fields() | extra


# --- hook records, loaded on first use --------------------------------------------------------

_LATER = frozenset(
    {
        "ExploreRequest",
        "ExploreResult",
        "SourceParams",
        "Endpoint",
        "Page",
        "ReadResult",
        "Delivery",
        "Verdict",
        "Step",
    }
)

if TYPE_CHECKING:
    from sourceflow.hookcalls import Delivery as Delivery
    from sourceflow.hookcalls import Endpoint as Endpoint
    from sourceflow.hookcalls import ExploreRequest as ExploreRequest
    from sourceflow.hookcalls import ExploreResult as ExploreResult
    from sourceflow.hookcalls import Page as Page
    from sourceflow.hookcalls import ReadResult as ReadResult
    from sourceflow.hookcalls import SourceParams as SourceParams
    from sourceflow.hookcalls import Step as Step
    from sourceflow.hookcalls import Verdict as Verdict


def __getattr__(name: str) -> Any:
    # The records only hook calls build live in sourceflow.hookcalls (see there why).
    if name not in _LATER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sourceflow import hookcalls

    value = getattr(hookcalls, name)
    globals()[name] = value
    return value
