"""Hook implementations for the Stripe source (scheduled pulls through Stripe's list API).

The base connection holds the key (``auth.params.accessToken``, sent as a Bearer token); the
source connection names one resource path (``params.resourcePath``); the flow's runs read that
path from the cursor the last run left and hand the records, each ``{"data": <object>}``, to
the flow's mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sourceflow
from sourceflow import (
    AuthSpec,
    ConnectionSpec,
    ExploreSpec,
    FlowSpec,
    Source,
    SourceflowError,
    SourceSpec,
)
from sourceflow_stripe import reader

# Loading the plugin builds its Source only: the API client (httpx, tenacity), the sample data
# (Starlette), OAuth, webhooks, mappings and the resource models are imported by the hooks that
# use them, so listing the plugins does not pay for them.
if TYPE_CHECKING:
    import httpx

    from sourceflow import (
        Auth,
        Connection,
        Delivery,
        Endpoint,
        ExploreRequest,
        ExploreResult,
        Flow,
        MappingRule,
        ReadResult,
        SourceParams,
        Verdict,
    )
    from sourceflow.http import RetryPolicy
    from sourceflow_stripe.api import StripeAPI

DATA_LAKE_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
CONNECTION_SPEC_ID = "cc2c31d6-7b8c-4581-b49f-5c8698aa3ab3"
FLOW_SPEC_ID = "6499120c-0b15-42dc-936e-847ea3c24d72"
PROVIDER_BATCH = "0ed90a81-07f4-4586-8190-b40eccef1c5a"
AUTH_SPEC_NAME = "OAuth2 Refresh Code"
OAUTH_SPEC_NAME = "Stripe Connect OAuth"
PREVIEW_SIZE = 10

_COMMON: dict[str, Any] = {
    "apiBase": {
        "type": "string",
        "format": "uri",
        "description": "Stripe's API base URL (default https://api.stripe.com); another one "
        "for a Stripe-compatible test server.",
    },
    "webhookSecret": {
        "type": "string",
        "description": "The webhook endpoint's signing secret (whsec_…), to verify "
        "Stripe-Signature on event deliveries.",
    },
    "requestsPerSecond": {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "A smaller request budget than Stripe's (25/s test, 100/s live), when "
        "other applications share the key.",
    },
}

AUTH_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "description": "A Stripe secret key or restricted key, or an OAuth access token.",
    "properties": {
        "accessToken": {
            "type": "string",
            "minLength": 1,
            "description": "The Stripe API key (sk_test_…, sk_live_…, rk_test_…, rk_live_…), "
            "sent as a Bearer token.",
        },
        "refreshToken": {"type": "string", "description": "Stripe Connect refresh token."},
        "stripeUserId": {"type": "string", "description": "The connected account (acct_…)."},
        **_COMMON,
    },
    "required": ["accessToken"],
    "additionalProperties": False,
}

OAUTH_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "description": "Stripe Connect: a code from the authorize redirect, or a refresh token, "
    "exchanged for an access token when the connection is made.",
    "properties": {
        "clientSecret": {
            "type": "string",
            "minLength": 1,
            "description": "The platform account's secret key.",
        },
        "authorizationCode": {"type": "string", "description": "The ?code= of the redirect."},
        "refreshToken": {"type": "string", "description": "A Stripe Connect refresh token."},
        "oauthBase": {
            "type": "string",
            "format": "uri",
            "description": "Stripe Connect's base URL (default https://connect.stripe.com).",
        },
        **_COMMON,
    },
    "required": ["clientSecret"],
    "additionalProperties": False,
}

SOURCE = Source(
    name="stripe",
    title="Stripe",
    description="Pull payments data from Stripe on a schedule.",
    connection_spec=ConnectionSpec(
        id=CONNECTION_SPEC_ID,
        name="Stripe",
        provider_id=PROVIDER_BATCH,
        type="payments",
        auth_spec=[
            AuthSpec(name=AUTH_SPEC_NAME, type="OAuth2RefreshCode", spec=AUTH_SCHEMA),
            AuthSpec(name=OAUTH_SPEC_NAME, type="OAuth2AuthorizationCode", spec=OAUTH_SCHEMA),
        ],
        source_spec=SourceSpec(
            name="Stripe",
            type="RestSource",
            spec={
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {
                    "resourcePath": {
                        "type": "string",
                        "enum": list(reader.RESOURCES),
                        "description": "The Stripe list to read.",
                    }
                },
                "required": ["resourcePath"],
            },
        ),
        explore_spec=ExploreSpec(name="Resource", type="rest"),
        attributes={"category": "payments", "isSource": True, "connectorName": "Stripe"},
    ),
    flow_specs=(
        FlowSpec(
            id=FLOW_SPEC_ID,
            name="GenericRestToAEP",
            provider_id=PROVIDER_BATCH,
            source_connection_spec_ids=[CONNECTION_SPEC_ID],
            target_connection_spec_ids=[DATA_LAKE_SPEC_ID],
            transformations=[{"name": "Mapping"}],
        ),
    ),
    mode="scheduled",
    # Beside the scheduled pull, the flow's own inlet takes Stripe's webhook events (on the
    # local platform and through sourceflow relay; Adobe gives a Stripe flow no inlet).
    inlet_on="flow",
    mapping_flow_spec=FLOW_SPEC_ID,
    delivery_secret="webhookSecret",  # noqa: S106 (the param's name, not a secret)
)

_http: httpx.Client | None = None
_http_lock = threading.Lock()


def _shared_http() -> httpx.Client:
    # One connection pool for every read of the process: runs of several flows share it.
    global _http
    import httpx

    with _http_lock:
        if _http is None:
            _http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32))
        return _http


def check_key(key: str) -> None:
    """Refuse what cannot be a Stripe secret or restricted key, naming the key's kind only."""
    if key.startswith("pk_"):
        raise SourceflowError(
            "accessToken is a publishable key (pk_…), which cannot read data",
            hint="use a secret key (sk_…) or a restricted key (rk_…) with read access",
        )
    if not key.startswith(("sk_", "rk_")):
        raise SourceflowError(
            "accessToken is not a Stripe secret or restricted key (they start with sk_ or rk_)",
            hint="copy it from the Stripe Dashboard, Developers > API keys",
        )


def check_api_base(value: Any) -> str:
    """``apiBase`` without its trailing slash, if it is Stripe's own (``https://api.stripe.com``)
    or an http(s) URL on this machine (a loopback host) with no query; an error naming the
    setting otherwise.

    Each pull sends the connection's secret key to this URL, and anyone who may PATCH the
    connection may change it: a base anywhere else would let them have the key sent to a host
    of their choosing. Test servers (``python -m sourceflow_stripe.sample``) run on loopback.
    """
    import ipaddress
    from urllib.parse import urlsplit

    from sourceflow_stripe.api import API_BASE_ENV, DEFAULT_API_BASE

    text = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(text)
    try:
        host = parts.hostname or ""
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, or no host at all
        loopback = False
    stripe = text.rstrip("/") == DEFAULT_API_BASE
    if parts.scheme not in ("http", "https") or parts.query or not (stripe or loopback):
        raise SourceflowError(
            f"apiBase: {str(value)[:100]!r} is neither Stripe's API base nor an http(s) URL on "
            "this machine (a loopback host)",
            hint=f"give https://api.stripe.com, or a test server's base such as "
            f"http://127.0.0.1:12111 (--param apiBase=… or {API_BASE_ENV})",
        )
    return text.rstrip("/")


def api_for(params: Mapping[str, Any], policy: RetryPolicy | None = None) -> StripeAPI:
    """A client for a connection's ``auth.params``: its key, base URL and budget."""
    from sourceflow_stripe.api import StripeAPI
    from sourceflow_stripe.ratelimit import pacer_for

    key = params.get("accessToken")
    if not isinstance(key, str) or not key:
        raise SourceflowError(
            "the base connection has no auth.params.accessToken",
            hint="PATCH the connection with the Stripe key, or connect again",
        )
    wanted = params.get("requestsPerSecond")
    rate = float(wanted) if isinstance(wanted, int | float) and wanted > 0 else None
    base = params.get("apiBase")
    return StripeAPI(
        key,
        # Checked on every use, not only at connect: a PATCH may have changed it since.
        base_url=check_api_base(base) if base else None,
        pacer=pacer_for(key, rate),
        http=_shared_http(),
        policy=policy,
    )


def _params(connection: Connection) -> Mapping[str, Any]:
    return connection.auth.params if connection.auth else {}


def _resource(path: Any, where: str) -> str:
    if path not in reader.RESOURCES:
        raise SourceflowError(
            f"{where}: {path!r} is not a Stripe resource path",
            hint="use one of " + ", ".join(reader.RESOURCES),
        )
    return str(path)


@sourceflow.hookimpl
def sourceflow_sources() -> list[Source]:
    """The Stripe source."""
    return [SOURCE]


@sourceflow.hookimpl
def sourceflow_authenticate(source: Source, credentials: Mapping[str, Any]) -> Auth:
    """The ``OAuth2 Refresh Code`` auth block, after proving the key works.

    With the ``Stripe Connect OAuth`` spec, the code or refresh token is first exchanged for an
    access token. The check is one ``GET /v1/balance``: a refused key fails here, with Stripe's
    reason; a restricted key without balance access (403) still authenticates, and a base that
    does not answer fails here too, within seconds, not at the first run.

    The API base the key was checked against is kept on the connection as ``apiBase`` (when it
    is not Stripe's): ``SOURCEFLOW_STRIPE_API_BASE`` in the environment of the process that
    connects (the CLI) thereby reaches the platform that runs the pulls, whose environment may
    not have it.
    """
    from sourceflow import Auth
    from sourceflow_stripe import oauth
    from sourceflow_stripe.api import CHECK, DEFAULT_API_BASE, StripeError, api_base

    params = dict(credentials)
    if "clientSecret" in params:
        answer = oauth.token(
            str(params.pop("clientSecret")),
            code=params.pop("authorizationCode", None),
            refresh_token=params.pop("refreshToken", None),
            base_url=params.pop("oauthBase", None),
        )
        params["accessToken"] = answer["access_token"]
        for ours, theirs in (("refreshToken", "refresh_token"), ("stripeUserId", "stripe_user_id")):
            if answer.get(theirs):
                params[ours] = answer[theirs]
    key = str(params.get("accessToken", ""))
    check_key(key)
    base = check_api_base(api_base(params.get("apiBase")))
    if base != DEFAULT_API_BASE:
        params["apiBase"] = base
    try:
        api_for(params, CHECK).get("/v1/balance")
    except StripeError as exc:
        if exc.status != 403:
            raise
    return Auth(spec_name=AUTH_SPEC_NAME, params=params)


@sourceflow.hookimpl
def sourceflow_explore(
    source: Source, connection: Connection, request: ExploreRequest
) -> ExploreResult:
    """The six resource paths, or one path's structure inferred from its newest objects."""
    from sourceflow_stripe import sample
    from sourceflow_stripe.schema import infer

    if request.object_type != "rest":
        raise SourceflowError(f"objectType: must be rest for Stripe (got {request.object_type!r})")
    for name, value in (("object", request.object), ("fileType", request.file_type)):
        if value not in (None, "json"):
            raise SourceflowError(f"{name}: json is the only one Stripe supports (got {value!r})")
    extra = sorted(set(request.source_params) - {"resourcePath"})
    if extra:
        raise SourceflowError(
            f"sourceParams: unknown key(s) {', '.join(extra)}",
            hint='send {"resourcePath": "charges"}, Base64-encoded',
        )
    if "resourcePath" not in request.source_params:
        return sourceflow.ExploreResult(
            items=[
                {
                    "type": "table",
                    "name": path,
                    "path": path,
                    "canPreview": True,
                    "canFetchSchema": True,
                }
                for path in reader.RESOURCES
            ]
        )
    path = _resource(request.source_params["resourcePath"], "sourceParams.resourcePath")
    page = api_for(_params(connection)).get(
        f"/v1/{path}", {**reader.LIST_PARAMS.get(path, {}), "limit": PREVIEW_SIZE}
    )
    records = [reader.wrap(o) for o in page.get("data") or []]
    # An account with no objects yet still has a structure: take it from sample objects.
    shapes = records or [reader.wrap(o) for o in sample.objects(path)]
    return sourceflow.ExploreResult(
        format="hierarchical",
        schema=infer(shapes),
        data=records if request.preview else None,
    )


@sourceflow.hookimpl
def sourceflow_source_params(source: Source, object: str | None) -> SourceParams:
    """``{"resourcePath": object}`` with ``data.format`` json (the only format Stripe has)."""
    if object is None:
        raise SourceflowError(
            "Stripe needs a resource path",
            hint="pass --object with one of " + ", ".join(reader.RESOURCES),
        )
    return sourceflow.SourceParams(
        data_format="json", params={"resourcePath": _resource(object, "object")}
    )


@sourceflow.hookimpl
def sourceflow_mapping_defaults(
    source: Source, object: str | None, tenant: str
) -> list[MappingRule] | None:
    """The default rules of the resource path (see :mod:`sourceflow_stripe.mappings`)."""
    from sourceflow_stripe.mappings import default_rules

    if object is None:
        return None
    return default_rules(_resource(object, "object"), tenant)


@sourceflow.hookimpl
def sourceflow_read(
    source: Source, connection: Connection, object: str | None, state: Mapping[str, Any]
) -> ReadResult:
    """The objects of the resource path created since the cursor in ``state``, in pages, each
    with the state to resume from (see :mod:`sourceflow_stripe.reader`)."""
    path = _resource(object, "params.resourcePath")
    return reader.read(api_for(_params(connection)), path, state)


@sourceflow.hookimpl
def sourceflow_verify_delivery(source: Source, request: Delivery) -> Verdict:
    """A Stripe event delivery is authentic when ``Stripe-Signature`` checks out against the
    ``webhookSecret``; the event id names the delivery, so a redelivery is stored once."""
    import json

    from sourceflow_stripe import webhooks

    secret = request.config.get("webhookSecret")
    if not isinstance(secret, str) or not secret:
        return sourceflow.Verdict(
            authentic=False,
            reason="no webhookSecret is configured for this flow's Stripe connection",
        )
    try:
        webhooks.verify(request.headers.get("stripe-signature"), request.body, secret)
    except webhooks.SignatureError as exc:
        return sourceflow.Verdict(authentic=False, reason=str(exc))
    try:
        event = json.loads(request.body)
    except (ValueError, RecursionError):
        event = None
    event_id = event.get("id") if isinstance(event, dict) else None
    if not event_id:  # not one event (a batch of them): the signed bytes name it
        import hashlib

        event_id = "sha256:" + hashlib.sha256(request.body).hexdigest()
    return sourceflow.Verdict(authentic=True, delivery_id=str(event_id))


@sourceflow.hookimpl
def sourceflow_delivery_record(
    source: Source, object: str | None, message: Mapping[str, Any]
) -> dict[str, Any] | None:
    """An event's ``data.object``, as a run reads it (``{"data": object}``), when it is an
    object of the flow's resource; None for any other event, so the flow's dataset holds its
    own objects only. A run that reads the same object in the same version later writes it
    no second time (the platform keys both alike)."""
    data = message.get("data") if message.get("object") == "event" else None
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        return None
    if object is not None and obj.get("object") != reader.OBJECT_TYPES.get(object):
        return None
    return reader.wrap(dict(obj))


@sourceflow.hookimpl
def sourceflow_endpoint(source: Source, flow: Flow, endpoint: Endpoint) -> dict[str, Any]:
    """The URL to add as a webhook endpoint in the Stripe Dashboard (Developers > Webhooks),
    with the signing secret it shows given as ``--param webhookSecret``."""
    return {
        "webhookUrl": endpoint.deliver_to,
        "webhooks": "add webhookUrl as an endpoint in the Stripe Dashboard (Developers > "
        "Webhooks) for the events of this resource, and connect with --param "
        "webhookSecret=whsec_… (the endpoint's signing secret)",
    }
