"""``GET /connections/{id}/explore``: what a connection offers, through its plugin.

``sourceParams`` is the URL-encoded Base64 of a JSON object (``{"resourcePath": "charges"}``
is ``eyJyZXNvdXJjZVBhdGgiOiJjaGFyZ2VzIn0%3D``). A listing answers a JSON array of items, as
Adobe's explore does; a structure answers ``{"format", "schema", "data"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from sourceflow import model, redact, wire
from sourceflow.errors import SourceflowError
from sourceflow.hooktypes import ExploreRequest, ExploreResult
from sourceflow.platform.http.problems import problem
from sourceflow.platform.http.web import Call, answer

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform


def source_params(raw: str | None) -> dict[str, Any]:
    """Decode ``sourceParams``; 400 saying whether it is not Base64, not JSON or not an object."""
    if not raw:
        return {}
    # A '+' left unencoded in the URL arrives as a space.
    text = raw.strip().replace(" ", "+")
    padded = text + "=" * (-len(text) % 4)
    try:
        # Standard Base64, or its URL-safe alphabet.
        altchars = b"-_" if ("-" in padded or "_" in padded) else None
        decoded = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise problem(
            400, "sourceParams: is not Base64 (encode a JSON object, then URL-encode it)"
        ) from None
    try:
        value = json.loads(decoded)
    except (UnicodeDecodeError, ValueError) as exc:
        raise problem(400, f"sourceParams: the decoded Base64 is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise problem(
            400, f"sourceParams: must decode to a JSON object (got {type(value).__name__})"
        )
    return value


def explore(p: Platform, call: Call) -> Response:
    """Ask the connection's plugin what it offers."""
    doc = p.store.get("connections", call.params["id"], call.scope)
    if doc is None:
        raise problem(404, f"no base connection {call.params['id']!r}")
    spec_id = doc["connectionSpec"]["id"]
    source = p.specs.source(spec_id)
    if source is None:
        raise problem(400, f"no installed source provides connection spec {spec_id}")
    if not p.registry.implements("sourceflow_explore", source):
        raise problem(400, f"source {source.name!r} does not support explore")
    preview = (call.arg("preview") or "false").lower()
    if preview not in ("true", "false"):
        raise problem(400, f"preview: must be true or false (got {preview!r})")
    request = ExploreRequest(
        object_type=call.arg("objectType") or "rest",
        object=call.arg("object"),
        file_type=call.arg("fileType"),
        preview=preview == "true",
        source_params=source_params(call.arg("sourceParams")),
    )
    connection = wire.from_json(doc, model.Connection)
    plugin = p.registry.owner(source)
    try:
        result = p.registry.call(
            "sourceflow_explore", source, connection=connection, request=request
        )
    except SourceflowError as exc:
        raise problem(400, f"{source.name}: {exc}") from None
    except Exception as exc:
        raise problem(
            502, f"plugin {plugin!r} failed in sourceflow_explore: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(result, ExploreResult):
        raise problem(502, f"plugin {plugin!r} answered no ExploreResult from sourceflow_explore")
    shaped = _shape(result)
    if isinstance(shaped, dict) and "schema" in shaped:
        # A schema holds field names and types, no values: masking it by key name would
        # replace a field such as card.extended_authorization with "***".
        return answer(
            {
                **redact.redact({k: v for k, v in shaped.items() if k != "schema"}),
                "schema": shaped["schema"],
            }
        )
    return answer(redact.redact(shaped))


def _shape(result: ExploreResult) -> Any:
    if result.items is not None and result.format is None and result.schema is None:
        return result.items
    shaped = {
        "format": result.format,
        "schema": result.schema,
        "data": result.data,
        "items": result.items,
    }
    return {k: v for k, v in shaped.items() if v is not None}
