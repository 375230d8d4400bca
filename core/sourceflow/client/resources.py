"""The platform's resources as small typed collections over one :class:`Transport`.

Flow Service resources share one shape, so one generic class serves them all:
``POST /{kind}`` answers ``{"id", "etag"}``, ``GET /{kind}/{id}`` answers ``{"items": [...]}``,
``PATCH`` takes a list of operations and the etag in ``If-Match``, and lists page with
``continuationToken`` (``_links.next.href``). Data Prep and Catalog page and answer
differently and have their own classes. Bodies are written and read only by
:mod:`sourceflow.wire`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import httpx

from sourceflow import wire
from sourceflow.client.transport import Params, Transport, display_path, parse_body, unexpected
from sourceflow.errors import NotFound, PlatformError
from sourceflow.model import CreatedRef, Dataset, MappingSet

T = TypeVar("T")

PatchOps = Sequence[Mapping[str, Any]]
"""JSON Patch operations, e.g. ``[{"op": "replace", "path": "/name", "value": "new"}]``."""

CONTINUATION = "continuationToken"


def _json(response: httpx.Response, what: str) -> Any:
    body = parse_body(response)
    if body is None:
        raise unexpected(
            response,
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} without the JSON body {what} should have",
        )
    return body


def _fast_json(response: httpx.Response, what: str) -> Any:
    """:func:`_json` by orjson, five times faster on a page of rows; the standard library's
    parser for what orjson refuses (an integer beyond 64 bits), so no value is lost."""
    import orjson

    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return _json(response, what)


def _id(value: str) -> str:
    # Ids go into the path: never let one add a segment or a query.
    return quote(value, safe="")


class SpecCollection(Generic[T]):
    """Read-only Flow Service resources (connection specs, flow specs, runs): get and list.

    :param transport: the platform transport.
    :param service_url: the Flow Service base, ``{platform_url}/data/foundation/flowservice``.
    :param path: the collection, e.g. ``/connections``.
    :param model: the model class items are read into.
    """

    def __init__(self, transport: Transport, service_url: str, path: str, model: type[T]) -> None:
        self.transport = transport
        self.service_url = service_url.rstrip("/")
        self.path = path
        self.model = model

    @property
    def url(self) -> str:
        """The collection's URL."""
        return self.service_url + self.path

    def get(self, id: str) -> T:
        """One resource by id (``GET /{kind}/{id}`` → ``{"items": [item]}``).

        :raises NotFound: when the platform answers 404 or no item.
        """
        response = self.transport.request("GET", f"{self.url}/{_id(id)}")
        body = _json(response, f"GET {self.path}/{{id}}")
        items = body.get("items") if isinstance(body, Mapping) else None
        if not items:
            raise unexpected(
                response, f"GET {self.path}/{id} answered no item", cls=NotFound, body=body
            )
        return wire.from_json(items[0], self.model)

    def list(
        self,
        property: str | Sequence[str] | None = None,
        orderby: str | None = None,
        limit: int | None = None,
    ) -> Iterator[T]:
        """Every resource, read lazily page after page.

        :param property: filters such as ``"state==enabled"``; several are ANDed (Adobe takes
            each as its own ``property`` parameter).
        :param orderby: a field to sort by, ``-`` first for descending (``-createdAt``).
        :param limit: items per page; pages are followed to the end regardless.
        """
        params: list[tuple[str, str]] = []
        for value in [property] if isinstance(property, str) else property or []:
            params.append(("property", value))
        if orderby:
            params.append(("orderby", orderby))
        if limit is not None:
            params.append(("limit", str(limit)))
        for item in self._pages(self.url, params):
            yield wire.from_json(item, self.model)

    def _pages(self, url: str, params: Params) -> Iterator[Any]:
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        while True:
            key = (url, tuple(params))
            if key in seen:
                raise PlatformError(
                    f"GET {self.path} answered the same next page twice; stopped paging",
                    status=200,
                    method="GET",
                    url=url,
                )
            seen.add(key)
            body = _json(self.transport.request("GET", url, params=params), f"GET {self.path}")
            yield from body.get("items") or []
            href = ((body.get("_links") or {}).get("next") or {}).get("href")
            if not href:
                return
            url, params = self._next(url, params, str(href))

    def _next(self, url: str, params: Params, href: str) -> tuple[str, Params]:
        """The request for the next page from ``_links.next.href``.

        Adobe gives the link relative to the service (``/connections?continuationToken=…``);
        absolute links, links from the host root and a bare token are taken too. Filters of
        the first request that the link does not repeat are kept.
        """
        parts = urlsplit(href)
        if not parts.scheme and not href.startswith("/") and "?" not in href:
            # A bare token: ask the same question again from where the last page ended.
            return url, [p for p in params if p[0] != CONTINUATION] + [(CONTINUATION, href)]
        if parts.scheme:
            target = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        else:
            service_path = urlsplit(self.service_url).path
            base = self.service_url
            path = parts.path or self.path
            if service_path and path.startswith(service_path + "/"):
                base = base[: len(base) - len(service_path)]
            target = base + ("" if path.startswith("/") else "/") + path
        given = parse_qsl(parts.query, keep_blank_values=True)
        named = {k for k, _ in given}
        return target, given + [p for p in params if p[0] not in named]


class Collection(SpecCollection[T]):
    """Flow Service resources clients create: connections, source and target connections,
    flows. Adds create, patch and delete to get and list."""

    def create(self, resource: T) -> CreatedRef:
        """Create ``resource`` (``POST /{kind}`` → 201 ``{"id", "etag"}``)."""
        response = self.transport.request("POST", self.url, json=wire.to_json(resource))
        return wire.from_json(_json(response, f"POST {self.path}"), CreatedRef)

    def patch(self, id: str, ops: PatchOps, etag: str) -> CreatedRef:
        """Apply JSON Patch ``ops`` to resource ``id`` if it still has ``etag``.

        :raises Conflict: 412 when the resource changed since ``etag`` was read.
        """
        response = self.transport.request(
            "PATCH",
            f"{self.url}/{_id(id)}",
            json=wire.to_json(builtins.list(ops)),
            headers={"If-Match": etag},
        )
        return wire.from_json(_json(response, f"PATCH {self.path}/{{id}}"), CreatedRef)

    def delete(self, id: str) -> None:
        """Delete resource ``id`` (``DELETE /{kind}/{id}`` → 204)."""
        self.transport.request("DELETE", f"{self.url}/{_id(id)}")


class MappingSets:
    """Data Prep mapping sets, ``{platform_url}/data/foundation/conversion/mappingSets``."""

    def __init__(self, transport: Transport, url: str) -> None:
        self.transport = transport
        self.url = url.rstrip("/")

    def create(self, mapping_set: MappingSet) -> MappingSet:
        """Create a mapping set; answers it with the ``id`` and ``version`` Data Prep gave it.

        Data Prep answers only ``{id, version, createdDate, …}``; the mappings sent are
        kept in the result.
        """
        sent = wire.to_json(mapping_set)
        response = self.transport.request("POST", self.url, json=sent)
        return wire.from_json({**sent, **_json(response, "POST /mappingSets")}, MappingSet)

    def get(self, id: str) -> MappingSet:
        """One mapping set (Data Prep answers the object itself, not ``items``)."""
        response = self.transport.request("GET", f"{self.url}/{_id(id)}")
        return wire.from_json(_json(response, "GET /mappingSets/{id}"), MappingSet)

    def list(self, limit: int = 50) -> Iterator[MappingSet]:
        """Every mapping set, read lazily; pages of ``limit`` with ``start`` offsets
        (answers ``{"data": [...], "_page": {"count", "limit"}}``)."""
        for page in offset_pages(self.transport, self.url, limit=limit, items="data"):
            for item in page.get("data") or []:
                yield wire.from_json(item, MappingSet)


class Datasets:
    """Catalog datasets, ``{platform_url}/data/foundation/catalog/dataSets``.

    Catalog answers in its own shapes: creating gives ``["@/dataSets/{id}"]``, reading gives
    ``{"{id}": {...}}`` keyed by id.
    """

    def __init__(self, transport: Transport, url: str) -> None:
        self.transport = transport
        self.url = url.rstrip("/")

    def create(self, dataset: Dataset) -> str:
        """Create a dataset; answers its id."""
        response = self.transport.request("POST", self.url, json=wire.to_json(dataset))
        body = _json(response, "POST /dataSets")
        if isinstance(body, builtins.list) and body and isinstance(body[0], str):
            return body[0].rsplit("/", 1)[-1]
        if isinstance(body, Mapping) and isinstance(body.get("id"), str):
            return str(body["id"])
        raise unexpected(
            response, f"POST /dataSets answered {body!r:.120}, not a dataset reference", body=body
        )

    def get(self, id: str) -> Dataset:
        """One dataset by id."""
        response = self.transport.request("GET", f"{self.url}/{_id(id)}")
        body = _json(response, "GET /dataSets/{id}")
        found = body.get(id) if isinstance(body, Mapping) else None
        if not isinstance(found, Mapping):
            raise unexpected(response, f"GET /dataSets/{id} answered no dataset", cls=NotFound)
        return _dataset(id, found)

    def list(self, limit: int = 50) -> Iterator[Dataset]:
        """Every dataset, read lazily in pages of ``limit`` (``?start=&limit=``)."""
        for page in offset_pages(self.transport, self.url, limit=limit):
            for key, value in page.items():
                yield _dataset(key, value)


def _dataset(id: str, body: Mapping[str, Any]) -> Dataset:
    return wire.from_json({**body, "id": id}, Dataset)


def offset_pages(
    transport: Transport, url: str, *, limit: int, items: str | None = None
) -> Iterator[Any]:
    """Pages of an offset-paged list (Data Prep, Catalog, sourceflow's extensions), lazily.

    Asks ``?limit=&start=`` from 0 on, and stops after a page shorter than ``limit``. The
    page's length is that of its ``items`` key when given (``"data"`` for Data Prep), of the
    page itself otherwise (Catalog answers an object keyed by id).
    """
    start = 0
    while True:
        params = [("limit", str(limit)), ("start", str(start))]
        page = _json(transport.request("GET", url, params=params), f"GET {display_path(url)}")
        yield page
        size = len((page.get(items) or []) if items else page)
        if size < limit:
            return
        start += size


FIRST_PAGE = 100
"""Rows :class:`KeyedRows` asks for first, before pages of its ``page_size``."""


class KeyedRows:
    """A dataset's rows read page by page as they are iterated, never all held at once.

    The local platform's rows route pages by key: each answer carries ``_page.next``, the
    place the next read starts (``?after=``). Iterating yields rows as each page arrives;
    :meth:`pages` yields whole pages for a caller that writes a page at a time. After
    iterating, :attr:`cursor` is where a later read resumes: past the last row yielded, also
    when ``limit`` stopped the read (the last page is asked for exactly the rows left).

    :param transport: sends the requests.
    :param url: the rows route of one dataset.
    :param after: resume after this cursor (a ``cursor`` or ``_page.next`` read before).
    :param limit: stop after this many rows; None reads to the end.
    :param page_size: rows asked for per request.
    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        page_size: int = 1000,
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError("limit must be at least 0")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.transport = transport
        self.url = url
        self.cursor = after
        self.limit = limit
        self.page_size = page_size
        self.count = 0

    def pages(self) -> Iterator[builtins.list[Any]]:
        """The rows, a page at a time, requested one page ahead of the caller at most."""
        first = True
        while self.limit is None or self.count < self.limit:
            # A small first page: the first rows reach the caller before a full page is read.
            size = min(self.page_size, FIRST_PAGE) if first else self.page_size
            first = False
            if self.limit is not None:
                size = min(size, self.limit - self.count)
            params: builtins.list[tuple[str, str]] = [("limit", str(size))]
            if self.cursor is not None:
                params.append(("after", self.cursor))
            response = self.transport.request("GET", self.url, params=params)
            body = _fast_json(response, f"GET {display_path(self.url)}")
            items = body.get("items") or []
            following = (body.get("_page") or {}).get("next")
            if following is not None:
                self.cursor = str(following)
            self.count += len(items)
            if items:
                yield items
            if len(items) < size or following is None:
                return

    def __iter__(self) -> Iterator[Any]:
        for page in self.pages():
            yield from page
