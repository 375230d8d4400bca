"""The Flow Service client: every platform call the lifecycle and the CLI make.

The same client runs against Adobe (``platform_url=https://platform.adobe.io``) and the
local platform; only :class:`~sourceflow.config.Settings` differ.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

import sourceflow
from sourceflow import config, wire
from sourceflow.client.ims import IMSTokenProvider
from sourceflow.client.inlet import InletSender
from sourceflow.client.resources import (
    Collection,
    Datasets,
    KeyedRows,
    MappingSets,
    SpecCollection,
    _id,
    offset_pages,
)
from sourceflow.client.retry import RetryPolicy
from sourceflow.client.transport import Transport, parse_body
from sourceflow.config import Settings
from sourceflow.hooktypes import JSON, ConnectionSpec, ExploreRequest, FlowSpec
from sourceflow.model import (
    Connection,
    CreatedRef,
    Flow,
    Run,
    RunRequest,
    SourceConnection,
    TargetConnection,
)

EXTENSION_PATH = "/sourceflow"  # the local platform's own calls: rows and failures
EXTENSION_PAGE = 1000


class FlowServiceClient:
    """A client for the Flow Service, Data Prep and Catalog APIs.

    One :class:`httpx.Client` (a connection pool) per instance; use it as a context manager
    or call :meth:`close`. Safe to share between threads.

    :param settings: where the platform is and who we are; ``SOURCEFLOW_*`` variables when
        omitted (see :func:`sourceflow.config.from_env`).
    :param retry: the retry policy (:class:`RetryPolicy` defaults when omitted).
    :param transport: an httpx transport to send through instead of the network (tests).

    Collections: :attr:`connection_specs`, :attr:`flow_specs` and :attr:`runs` (get, list);
    :attr:`connections`, :attr:`source_connections`, :attr:`target_connections` and
    :attr:`flows` (create, get, list, patch, delete); :attr:`mapping_sets` and
    :attr:`datasets` (create, get, list).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings = settings if settings is not None else config.from_env()
        self.retry = retry = retry if retry is not None else RetryPolicy()
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout),
            transport=transport,
            headers={
                "Accept": "application/json",
                "User-Agent": f"sourceflow/{sourceflow.__version__}",
            },
        )
        self.tokens = IMSTokenProvider(settings, self._http, retry)
        self._platform = Transport(
            self._http,
            retry,
            headers={
                "x-api-key": settings.api_key,
                "x-gw-ims-org-id": settings.org_id,
                "x-sandbox-name": settings.sandbox,
            },
            tokens=self.tokens,
        )
        base = settings.platform_url
        self.flowservice_url = base + config.FLOWSERVICE_PATH
        fs, t = self.flowservice_url, self._platform
        self.connection_specs = SpecCollection(t, fs, "/connectionSpecs", ConnectionSpec)
        self.flow_specs = SpecCollection(t, fs, "/flowSpecs", FlowSpec)
        self.runs = SpecCollection(t, fs, "/runs", Run)
        self.connections = Collection(t, fs, "/connections", Connection)
        self.source_connections = Collection(t, fs, "/sourceConnections", SourceConnection)
        self.target_connections = Collection(t, fs, "/targetConnections", TargetConnection)
        self.flows = Collection(t, fs, "/flows", Flow)
        self.mapping_sets = MappingSets(t, base + config.DATAPREP_PATH + "/mappingSets")
        self.datasets = Datasets(t, base + config.CATALOG_PATH + "/dataSets")

    def explore(self, connection_id: str, request: ExploreRequest) -> JSON:
        """Explore a base connection's objects, an object's structure, or a preview.

        ``GET /connections/{id}/explore?objectType=…&object=…&fileType=…&preview=…&sourceParams=…``
        where ``sourceParams`` is the Base64 of the JSON ``request.source_params``. A bare
        JSON list (Adobe's answer for a listing) comes back as ``{"items": [...]}``, the shape
        of :class:`~sourceflow.hooktypes.ExploreResult`.
        """
        params = [("objectType", request.object_type)]
        if request.object is not None:
            params.append(("object", request.object))
        if request.file_type is not None:
            params.append(("fileType", request.file_type))
        params.append(("preview", "true" if request.preview else "false"))
        if request.source_params:
            encoded = json.dumps(wire.to_json(request.source_params), separators=(",", ":"))
            params.append(("sourceParams", base64.b64encode(encoded.encode()).decode()))
        response = self._platform.request(
            "GET", f"{self.flowservice_url}/connections/{_id(connection_id)}/explore", params=params
        )
        body: Any = parse_body(response)
        if isinstance(body, list):
            return {"items": body}
        return body if isinstance(body, dict) else {}

    def start_run(self, flow_id: str) -> CreatedRef:
        """Start a run of a scheduled flow now (``POST /runs`` ``{"flowId"}`` → ``{id, etag}``);
        :attr:`runs` reads it back with its metrics."""
        body = wire.to_json(RunRequest(flow_id=flow_id))
        response = self._platform.request("POST", f"{self.flowservice_url}/runs", json=body)
        return wire.from_json(parse_body(response), CreatedRef)

    def dataset_rows(self, dataset_id: str) -> list[JSON]:
        """The rows that landed in a dataset, oldest first, in a list (a sourceflow platform
        extension: ``GET {platform_url}/sourceflow/dataSets/{id}/rows?limit=&after=``, read to
        the end; Adobe has no such call). For many rows use :meth:`stream_rows`, which holds
        one page at a time.

        Each row is ``{"xactionId", "flowId", "receivedTimeMs", "record": {...}}``.
        """
        return list(self.stream_rows(dataset_id))

    def stream_rows(
        self,
        dataset_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        page_size: int = EXTENSION_PAGE,
    ) -> KeyedRows:
        """The rows of a dataset read lazily, page by page as they are iterated: memory stays
        that of one page however many rows there are. ``after`` resumes from the
        :attr:`~sourceflow.client.resources.KeyedRows.cursor` of an earlier read; ``limit``
        stops after that many rows (the cursor then points past the last one yielded)."""
        url = f"{self.settings.platform_url}{EXTENSION_PATH}/dataSets/{_id(dataset_id)}/rows"
        return KeyedRows(self._platform, url, after=after, limit=limit, page_size=page_size)

    def flow_failures(self, flow_id: str) -> list[JSON]:
        """A flow's messages that did not become rows, oldest first (a sourceflow platform
        extension: ``GET {platform_url}/sourceflow/flows/{id}/failures``).

        Each is ``{"xactionId", "receivedTimeMs", "error": {"code", "message"}, "body"}``.
        """
        url = f"{self.settings.platform_url}{EXTENSION_PATH}/flows/{_id(flow_id)}/failures"
        return self._extension_items(url)

    def flow_message(self, flow_id: str, xaction_id: str) -> JSON:
        """One message a flow's inlet acknowledged, and what became of it (a sourceflow
        platform extension: ``GET {platform_url}/sourceflow/flows/{id}/messages/{xactionId}``):
        ``{"xactionId", "receivedTimeMs", "body", "outcome": {"state", ...}}`` where the state
        is ``pending`` (not mapped yet), ``row``, ``failed`` (with its ``failureId`` and
        ``error``), ``replayed`` or ``processed``.

        :raises NotFound: the flow has no such message.
        """
        url = (
            f"{self.settings.platform_url}{EXTENSION_PATH}/flows/{_id(flow_id)}"
            f"/messages/{_id(xaction_id)}"
        )
        body = parse_body(self._platform.request("GET", url))
        return body if isinstance(body, dict) else {}

    def replay_failures(self, flow_id: str) -> JSON:
        """Map a flow's failed records again with its current mapping set (a sourceflow
        platform extension: ``POST {platform_url}/sourceflow/flows/{id}/replay``, repeated
        while failures remain untried). Answers ``{"replayed", "failed", "runIds",
        "xactionIds"}``: how many landed as rows and how many failed again."""
        url = f"{self.settings.platform_url}{EXTENSION_PATH}/flows/{_id(flow_id)}/replay"
        total: JSON = {"replayed": 0, "failed": 0, "runIds": [], "xactionIds": []}
        after = 0
        while True:
            response = self._platform.request("POST", url, params=[("after", str(after))])
            done = parse_body(response)
            total["replayed"] += done["replayed"]
            total["failed"] += done["failed"]
            total["xactionIds"] += done["xactionIds"]
            if done["runId"]:
                total["runIds"].append(done["runId"])
            if not done["remaining"] or done["lastFailureId"] is None:
                break
            after = done["lastFailureId"]
        total["runId"] = total["runIds"][-1] if total["runIds"] else None
        return total

    def _extension_items(self, url: str) -> list[JSON]:
        pages = offset_pages(self._platform, url, limit=EXTENSION_PAGE, items="items")
        return [item for page in pages for item in page.get("items") or []]

    def inlet(
        self,
        inlet_url: str,
        *,
        flow_id: str | None = None,
        authenticated: bool = False,
        hints: Mapping[int, str] | None = None,
    ) -> InletSender:
        """An :class:`InletSender` for ``inlet_url`` with this client's sandbox, retry policy
        and connection pool; ``authenticated`` sends this client's IMS token (renewed as
        needed); ``hints`` replace the sender's error hints by status. Closing the sender
        leaves the client open."""
        return InletSender(
            inlet_url,
            flow_id=flow_id,
            token=self.tokens if authenticated else None,
            sandbox=self.settings.sandbox,
            retry=self.retry,
            http=self._http,
            hints=hints,
        )

    def access_token(self) -> str:
        """The current IMS access token, e.g. for an authenticated inlet."""
        return self.tokens.current().value

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> FlowServiceClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
