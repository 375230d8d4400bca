"""The console's pages and actions: each reads the platform's API (:class:`~.Api`) and renders
a template; actions call the API and send the browser back to the page it came from."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sourceflow.platform.console.api import (
    CAT,
    DP,
    EXT,
    FS,
    PREFIX,
    SANDBOX_COOKIE,
    Api,
    ApiError,
    Session,
    filter_rows,
    read_form,
)
from sourceflow.platform.http.problems import Refused
from sourceflow.platform.http.query import whole

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

RULE_FIELDS = ("sourceType", "sourceAttribute", "destinationXdmPath")
SCAN_LIMIT = 20_000
"""Rows a filtered dataset view reads at most."""
ROW_PAGE = 1000


def _back(path: str, note: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?note={quote(note)}", 303)


def _mapping_index(flow: dict[str, Any]) -> int | None:
    for i, t in enumerate(flow.get("transformations") or []):
        if str(t.get("name", "")).lower() == "mapping" and (t.get("params") or {}).get("mappingId"):
            return i
    return None


class Host(Protocol):
    """What the views need of the console (:class:`sourceflow.platform.console.Console`)."""

    p: Platform

    def render(
        self, name: str, request: Request, session: Session | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        """A page from ``templates/name``."""
        ...


class Pages:
    """The views of one console."""

    def __init__(self, console: Host) -> None:
        self.c = console

    # --- helpers --------------------------------------------------------------------------

    def _source_of(self, source_connection: dict[str, Any] | None) -> Any:
        if not source_connection:
            return None
        return self.c.p.specs.source(source_connection["connectionSpec"]["id"])

    async def _flow(self, api: Api, flow_id: str) -> dict[str, Any]:
        items = (await api.get(f"{FS}/flows/{quote(flow_id, safe='')}"))["items"]
        flow: dict[str, Any] = items[0]
        return flow

    async def _first(self, api: Api, kind: str, ids: list[str]) -> dict[str, Any] | None:
        for rid in ids[:1]:
            try:
                found: dict[str, Any] = (await api.get(f"{FS}/{kind}/{quote(rid, safe='')}"))[
                    "items"
                ][0]
                return found
            except ApiError:
                return None
        return None

    async def _mapping(self, api: Api, flow: dict[str, Any]) -> dict[str, Any] | None:
        index = _mapping_index(flow)
        if index is None:
            return None
        mapping_id = flow["transformations"][index]["params"]["mappingId"]
        try:
            doc: dict[str, Any] = await api.get(f"{DP}/mappingSets/{quote(mapping_id, safe='')}")
        except ApiError:
            return None
        return doc

    # --- overview -------------------------------------------------------------------------

    async def overview(self, request: Request, session: Session, api: Api) -> Response:
        """Installed sources, connections, flows with their state, and the message rate."""
        specs, connections, flows, sources, traffic = await asyncio.gather(
            api.items(f"{FS}/connectionSpecs"),
            api.items(f"{FS}/connections"),
            api.items(f"{FS}/flows"),
            api.items(f"{FS}/sourceConnections"),
            api.get(f"{EXT}/traffic", seconds=600, step=10),
        )
        by_id = {s["id"]: s for s in sources}
        rows = []
        for f in flows:
            sc = by_id.get((f.get("sourceConnectionIds") or [""])[0])
            source = self._source_of(sc)
            rows.append({"flow": f, "source": source})
        installed = [{"spec": s, "source": self.c.p.specs.source(s["id"])} for s in specs]
        return self.c.render(
            "overview.html",
            request,
            session,
            installed=installed,
            connections=connections,
            flows=rows,
            traffic=traffic,
            note=request.query_params.get("note"),
        )

    async def sandbox(self, request: Request, session: Session, api: Api) -> Response:
        """Switch the sandbox the console shows."""
        form = await read_form(request)
        name = form.get("sandbox", "").strip() or "prod"
        response = RedirectResponse(PREFIX, 303)
        response.set_cookie(SANDBOX_COOKIE, name, httponly=True, samesite="strict", path=PREFIX)
        return response

    # --- a flow ---------------------------------------------------------------------------

    async def flow(self, request: Request, session: Session, api: Api) -> Response:
        """A flow: its connections, mapping set, runs, recent messages and failed records."""
        flow_id = request.path_params["id"]
        flow = await self._flow(api, flow_id)
        fid = quote(flow_id, safe="")
        source, target, mapping, runs, messages, failures = await asyncio.gather(
            self._first(api, "sourceConnections", flow.get("sourceConnectionIds") or []),
            self._first(api, "targetConnections", flow.get("targetConnectionIds") or []),
            self._mapping(api, flow),
            api.items(f"{FS}/runs", property=f"flowId=={flow_id}", orderby="-createdAt"),
            api.get(f"{EXT}/flows/{fid}/messages", limit=25),
            api.get(f"{EXT}/flows/{fid}/failures", limit=200),
        )
        base = None
        if source and source.get("baseConnectionId"):
            base = await self._first(api, "connections", [source["baseConnectionId"]])
        src = self._source_of(source)
        return self.c.render(
            "flow.html",
            request,
            session,
            flow=flow,
            base=base,
            source_connection=source,
            target=target,
            mapping=mapping,
            runs=runs,
            messages=messages["items"],
            failures=failures["items"],
            source=src,
            scheduled=src is not None and src.mode == "scheduled",
            note=request.query_params.get("note"),
        )

    async def messages(self, request: Request, session: Session, api: Api) -> Response:
        """The recent messages table alone (htmx refreshes it on the flow's page)."""
        flow_id = request.path_params["id"]
        found = await api.get(f"{EXT}/flows/{quote(flow_id, safe='')}/messages", limit=25)
        return self.c.render(
            "messages.html", request, session, flow={"id": flow_id}, messages=found["items"]
        )

    async def message(self, request: Request, session: Session, api: Api) -> Response:
        """One message: what arrived, and the row or the error it became."""
        flow_id, xaction = request.path_params["id"], request.path_params["xaction"]
        flow = await self._flow(api, flow_id)
        found = await api.get(
            f"{EXT}/flows/{quote(flow_id, safe='')}/messages/{quote(xaction, safe='')}"
        )
        return self.c.render("message.html", request, session, flow=flow, message=found)

    async def failure(self, request: Request, session: Session, api: Api) -> Response:
        """A failed record: the record, the error, the rule that failed, and the mapping set
        to fix."""
        flow_id, failure_id = request.path_params["id"], request.path_params["failure"]
        flow = await self._flow(api, flow_id)
        failed, mapping = await asyncio.gather(
            api.get(f"{EXT}/flows/{quote(flow_id, safe='')}/failures/{quote(failure_id)}"),
            self._mapping(api, flow),
        )
        return self._failure_page(request, session, flow, failed, mapping)

    def _failure_page(
        self,
        request: Request,
        session: Session,
        flow: dict[str, Any],
        failed: dict[str, Any],
        mapping: dict[str, Any] | None,
        *,
        problems: ApiError | None = None,
        status: int = 200,
    ) -> Response:
        rule = (failed.get("error") or {}).get("rule")
        rules = (mapping or {}).get("mappings") or []
        failed_rule = rules[rule["index"]] if rule and 0 <= rule["index"] < len(rules) else None
        return self.c.render(
            "failure.html",
            request,
            session,
            status,
            flow=flow,
            failed=failed,
            mapping=mapping,
            rule=rule,
            failed_rule=failed_rule,
            problems=problems,
            note=request.query_params.get("note"),
        )

    # --- actions --------------------------------------------------------------------------

    async def save_mapping(self, request: Request, session: Session, api: Api) -> Response:
        """Save the edited rules as a new mapping set and point the flow's Mapping
        transformation at it (Data Prep compiles it first; the flow is patched with its
        etag, so a flow changed meanwhile is not overwritten)."""
        flow_id = request.path_params["id"]
        form = await read_form(request)
        flow = await self._flow(api, flow_id)
        current = await self._mapping(api, flow)
        index = _mapping_index(flow)
        back = form.get("back") or f"{PREFIX}/flows/{quote(flow_id, safe='')}"
        if current is None or index is None:
            raise ApiError(400, f"flow {flow_id} has no mapping set to change")
        rules = []
        for i, old in enumerate(current.get("mappings") or []):
            if form.get(f"delete-{i}"):
                continue
            rule = dict(old)
            for key in RULE_FIELDS:
                if f"{key}-{i}" in form:
                    rule[key] = form[f"{key}-{i}"].strip()
            rules.append(rule)
        if form.get("destinationXdmPath-new", "").strip():
            rules.append({key: form.get(f"{key}-new", "").strip() for key in RULE_FIELDS})
        body = {"outputSchema": current.get("outputSchema"), "mappings": rules}
        if current.get("name"):
            body["name"] = current["name"]
        try:
            created = await api.call("POST", f"{DP}/mappingSets", json=body)
        except ApiError as exc:
            if exc.status != 400 or "failure" not in form:
                raise
            failed = await api.get(
                f"{EXT}/flows/{quote(flow_id, safe='')}/failures/{quote(form['failure'])}"
            )
            proposed = {**current, "mappings": rules}
            return self._failure_page(
                request, session, flow, failed, proposed, problems=exc, status=400
            )
        patch = [
            {
                "op": "replace",
                "path": f"/transformations/{index}/params/mappingId",
                "value": created["id"],
            }
        ]
        await api.call(
            "PATCH",
            f"{FS}/flows/{quote(flow_id, safe='')}",
            json=patch,
            headers={"If-Match": form.get("etag") or flow["etag"]},
        )
        return _back(back, f"mapping set {created['id']} saved and used by the flow")

    async def replay(self, request: Request, session: Session, api: Api) -> Response:
        """Map the flow's failed records again with its current mapping set."""
        flow_id = request.path_params["id"]
        form = await read_form(request)
        done = await api.call("POST", f"{EXT}/flows/{quote(flow_id, safe='')}/replay")
        note = f"replayed: {done['replayed']} landed as rows, {done['failed']} failed again"
        if done["remaining"]:
            note += f", {done['remaining']} left for another replay"
        if done["runId"]:
            note += f" (run {done['runId']})"
        return _back(form.get("back") or f"{PREFIX}/flows/{quote(flow_id, safe='')}", note)

    async def start_run(self, request: Request, session: Session, api: Api) -> Response:
        """Start a run of a scheduled flow now (``POST /runs``)."""
        flow_id = request.path_params["id"]
        started = await api.call("POST", f"{FS}/runs", json={"flowId": flow_id})
        return _back(f"{PREFIX}/flows/{quote(flow_id, safe='')}", f"run {started['id']} started")

    async def confirm(self, request: Request, session: Session, api: Api) -> Response:
        """What tearing the flow down deletes, and a form to confirm it."""
        flow = await self._flow(api, request.path_params["id"])
        return self.c.render("teardown.html", request, session, flow=flow, error=None)

    async def teardown(self, request: Request, session: Session, api: Api) -> Response:
        """Delete the flow, then its source and target connections when nothing else uses
        them (the API refuses to delete what is in use); datasets and rows stay."""
        flow = await self._flow(api, request.path_params["id"])
        form = await read_form(request)
        if form.get("confirm", "").strip() not in (flow["id"], flow.get("name")):
            return self.c.render(
                "teardown.html",
                request,
                session,
                400,
                flow=flow,
                error="type the flow's name (or id) to confirm",
            )
        await api.call("DELETE", f"{FS}/flows/{quote(flow['id'], safe='')}")
        deleted = [f"flow {flow['id']}"]
        kept = []
        for kind, ids in (
            ("sourceConnections", flow.get("sourceConnectionIds") or []),
            ("targetConnections", flow.get("targetConnectionIds") or []),
        ):
            for rid in ids:
                try:
                    await api.call("DELETE", f"{FS}/{kind}/{quote(rid, safe='')}")
                    deleted.append(f"{kind[:-1]} {rid}")
                except ApiError as exc:
                    kept.append(f"{kind[:-1]} {rid} ({exc.detail})")
        note = "deleted " + ", ".join(deleted) + (f"; kept {', '.join(kept)}" if kept else "")
        return _back(PREFIX, note)

    # --- datasets -------------------------------------------------------------------------

    async def datasets(self, request: Request, session: Session, api: Api) -> Response:
        """The datasets of the sandbox."""
        found = await api.get(f"{CAT}/dataSets", limit=100)
        return self.c.render("datasets.html", request, session, datasets=list(found.values()))

    async def dataset(self, request: Request, session: Session, api: Api) -> Response:
        """A dataset's rows, paged, filtered with the Flow Service's filter syntax."""
        dataset_id = request.path_params["id"]
        did = quote(dataset_id, safe="")
        params = request.query_params
        dataset = (await api.get(f"{CAT}/dataSets/{did}"))[dataset_id]
        error = None
        try:
            # start: a position in the filtered rows (held here); pos: the number of the first
            # row shown unfiltered, where after (the rows route's key) says where it starts.
            start = whole(params.get("start"), "start", 0, least=0)
            pos = whole(params.get("pos"), "pos", 0, least=0)
            limit = whole(params.get("limit"), "limit", 50, least=1, most=500)
        except Refused as refused:
            start, pos, limit = 0, 0, 50
            error = str(refused.body.get("detail"))
        after = params.get("after") or None
        following: str | None = None
        text = params.get("filter", "")
        scanned = 0
        more = False
        if text.strip():
            matching: list[dict[str, Any]] = []
            try:
                filter_rows([], text)  # a malformed filter is refused before any read
                key: dict[str, str] = {}
                while scanned < SCAN_LIMIT:
                    page = await api.get(f"{EXT}/dataSets/{did}/rows", limit=ROW_PAGE, **key)
                    items = page["items"]
                    scanned += len(items)
                    matching.extend(filter_rows(items, text))
                    if len(items) < ROW_PAGE:
                        break
                    key = {"after": page["_page"]["next"]}
            except Refused as refused:
                error = str(refused.body.get("detail"))
            rows = matching[start : start + limit]
            more = start + limit < len(matching)
            total: int | None = len(matching)
        else:
            try:
                page = await api.get(
                    f"{EXT}/dataSets/{did}/rows", limit=limit, **({"after": after} if after else {})
                )
            except Refused as refused:
                page = {"items": [], "_page": {}}
                error = str(refused.body.get("detail"))
            rows = page["items"]
            more = "_links" in page  # a full page: there may be more
            following = page["_page"].get("next")
            total = None
        return self.c.render(
            "dataset.html",
            request,
            session,
            dataset=dataset,
            rows=rows,
            start=start,
            pos=pos,
            after=after,
            following=following,
            limit=limit,
            more=more,
            filter=text,
            total=total,
            scanned=scanned,
            truncated=scanned >= SCAN_LIMIT,
            error=error,
        )

    # --- timeline -------------------------------------------------------------------------

    async def timeline(self, request: Request, session: Session, api: Api) -> Response:
        """The runs of the scheduled flows on one time axis, newest runs listed below."""
        flows, sources, runs = await asyncio.gather(
            api.items(f"{FS}/flows"),
            api.items(f"{FS}/sourceConnections"),
            api.items(f"{FS}/runs", orderby="-createdAt"),
        )
        by_id = {s["id"]: s for s in sources}
        lanes = []
        for f in flows:
            source = self._source_of(by_id.get((f.get("sourceConnectionIds") or [""])[0]))
            if source is None or source.mode != "scheduled":
                continue
            mine = [r for r in runs if r.get("flowId") == f["id"]]
            lanes.append({"name": f.get("name") or f["id"], "flow": f, "runs": mine})
        listed = [r for lane in lanes for r in lane["runs"]]
        listed.sort(key=lambda r: r.get("createdAt") or 0, reverse=True)
        names = {lane["flow"]["id"]: lane["name"] for lane in lanes}
        return self.c.render(
            "timeline.html", request, session, lanes=lanes, runs=listed[:100], names=names
        )
