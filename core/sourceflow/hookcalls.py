"""The hook records built only while hooks are called: explore requests and answers, source
params, endpoints, reads, deliveries and verdicts, steps.

Import them from :mod:`sourceflow.hooktypes` (or the ``sourceflow`` root), which loads this
module on first use: loading the plugins builds only the specs and the :class:`Source` they
declare, and these nine classes would add 30 M instructions (callgrind) to ``sourceflow
plugins``, which never builds one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# sourceflow.hooktypes's JSON too; that module imports this one, so not from there.
JSON = dict[str, Any]


@dataclass(kw_only=True, frozen=True)
class ExploreRequest:
    """An explore call: ``objectType``, ``object``, ``fileType``, ``preview``, ``sourceParams``."""

    object_type: str = "rest"
    object: str | None = None
    file_type: str | None = None
    preview: bool = False
    source_params: JSON = field(default_factory=dict)


@dataclass(kw_only=True)
class ExploreResult:
    """What explore answers: the objects on offer, or one object's structure and a preview."""

    items: list[JSON] | None = None
    format: str | None = None
    schema: JSON | None = None
    data: list[JSON] | None = None


@dataclass(kw_only=True)
class SourceParams:
    """The ``data`` and ``params`` of a source connection for one object."""

    data_format: str | None = "json"
    params: JSON | None = None


@dataclass(kw_only=True)
class Endpoint:
    """A flow's streaming endpoint once it exists.

    ``object`` is the object or event type ``connect`` was given (``--object``), e.g. the
    Shopify topic to subscribe; None at teardown and when none was given. ``webhook_url`` is
    where a provider should deliver instead of the inlet itself: the same inlet path on
    ``sourceflow relay`` (``connect --webhook-base``), which verifies and de-duplicates in
    front of Adobe's inlet; None to deliver to the inlet. Subscribe :attr:`deliver_to`.
    """

    inlet_id: str
    inlet_url: str
    flow_id: str
    authentication_required: bool = False
    webhook_url: str | None = None
    object: str | None = None

    @property
    def deliver_to(self) -> str:
        """The URL to give the provider: the relay's when there is one, else the inlet's."""
        return self.webhook_url or self.inlet_url


@dataclass(kw_only=True, frozen=True)
class Page:
    """Records read together, and the cursor to resume from once they are all written.

    The platform writes a page's rows and stores its ``state`` in one transaction, so a run
    that fails or is killed after it resumes from there: nothing read again, nothing skipped.
    """

    records: Sequence[JSON]
    state: JSON


@dataclass(kw_only=True)
class ReadResult:
    """One scheduled read: records (an iterable, read lazily) and the cursor to resume from, or
    pages, each with the cursor after it (see ``docs/hooks.md``, ``sourceflow_read``).

    :param records: the records, consumed lazily; ``state`` is read once they are exhausted.
    :param state: the cursor to store once every record is written.
    :param pages: instead of ``records`` and ``state``: :class:`Page` after page, each stored
        with its cursor; the last page's state is the next run's cursor.
    :param counters: counts the plugin keeps while reading (``retries``: requests sent
        again; ``throttled``: answers refusing for the rate), shown in the run's
        ``metrics.statusSummary.extensions`` as they change, failed runs included.
    """

    records: Iterable[JSON] = ()
    state: JSON = field(default_factory=dict)
    pages: Iterable[Page] | None = None
    counters: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        given = not (isinstance(self.records, tuple) and not self.records) or self.state
        if self.pages is not None and given:
            raise ValueError("ReadResult takes records and state, or pages, not both")


@dataclass(kw_only=True, frozen=True)
class Delivery:
    """An inbound delivery at the inlet, as the sender made it.

    ``body`` holds the raw bytes, because signatures are computed over them, not over parsed
    JSON. Header names are lower-case.
    """

    inlet_id: str
    flow_id: str | None
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    config: JSON = field(default_factory=dict)


@dataclass(kw_only=True, frozen=True)
class Verdict:
    """A plugin's judgement of a delivery.

    :param authentic: False refuses the delivery with 401 and ``reason``; it is not stored.
    :param delivery_id: the sender's id for the delivery (e.g. ``X-Shopify-Webhook-Id``);
        a second delivery with the same id is acknowledged and not stored again.
    """

    authentic: bool
    delivery_id: str | None = None
    reason: str | None = None


@dataclass(kw_only=True, frozen=True)
class Step:
    """A lifecycle step, as observers see it.

    :param name: ``base_connection``, ``explore``, ``source_connection``,
        ``target_connection``, ``mapping``, ``flow``, ``endpoint``, ``teardown``, ``run``.
    :param source: the source's name.
    :param detail: ids and names involved (never credentials).
    """

    name: str
    source: str
    detail: Mapping[str, Any] = field(default_factory=dict)
