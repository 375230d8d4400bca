"""The relay as one Starlette app: Adobe's two collection routes over the relay's own
:class:`~sourceflow.platform.ingress.pipeline.Ingress`, and ``GET /healthz``.

::

    relay = Relay(config)                 # flows, store, forwarder
    app = create_app(relay)               # serve it: uvicorn, or sourceflow relay serve

Startup opens the store (creating its tables), starts the group commit and the forwarder;
shutdown (SIGTERM or Ctrl+C: uvicorn first stops taking connections and lets the requests in
flight finish) stops the forwarder after its batch in flight, commits what is queued, and
closes the store. Whatever was acknowledged is in the store; whatever Adobe has not accepted
stays there for the next start, or another replica.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sourceflow import config as sf_config
from sourceflow import plugins
from sourceflow.errors import ConfigError, UnknownSource
from sourceflow.log import get_logger
from sourceflow.platform.http.web import RequestIds, answer, http_error
from sourceflow.platform.ingress.commits import GroupCommit
from sourceflow.platform.ingress.pipeline import Collection, Ingress, InletInfo
from sourceflow.platform.store.sqlite import Scope
from sourceflow.relay.config import MAX_MESSAGE_BYTES, RelayConfig
from sourceflow.relay.forwarder import Forwarder
from sourceflow.relay.outbox import Outbox, OutboxSink
from sourceflow.relay.stores import open_outbox


class RelayInlets:
    """The inlets the relay serves, from its configuration: one per Adobe inlet id, with the
    flows the relay fronts on it, their source and what their plugin needs to verify."""

    def __init__(self, cfg: RelayConfig, registry: plugins.Registry, org: str) -> None:
        by_inlet: dict[str, list[Any]] = defaultdict(list)
        for flow in cfg.flows:
            by_inlet[flow.inlet_id].append(flow)
        self.inlets: dict[str, InletInfo] = {}
        for inlet_id, flows in by_inlet.items():
            try:
                sources = {registry.source(f.source).id: registry.source(f.source) for f in flows}
            except UnknownSource as exc:
                raise ConfigError(str(exc), hint="install the plugin that provides it") from None
            if len(sources) > 1:
                names = ", ".join(f.name for f in flows)
                raise ConfigError(f"flows {names} share inlet {inlet_id} but not their source")
            [source] = sources.values()
            secret = source.delivery_secret
            for f in flows:
                if secret and not f.config.get(secret):
                    raise ConfigError(
                        f"flow {f.name!r}: {source.title} deliveries are signed with "
                        f"{secret}, which the relay needs to verify them",
                        hint=f'add secrets = {{ {secret} = "ENV_VAR" }} to the flow',
                    )
            self.inlets[inlet_id] = InletInfo(
                inlet_id=inlet_id,
                scope=Scope(org, flows[0].sandbox),
                owner_kind="relay",
                owner_id=flows[0].name,
                # Providers cannot send IMS tokens: the relay's own door is the signature.
                authentication_required=False,
                flows=tuple(f.flow_id for f in flows),
                source=source,
                configs={f.flow_id: dict(f.config) for f in flows},
            )

    def cached_inlet(self, inlet_id: str) -> tuple[bool, InletInfo | None]:
        """Always known: the configuration is in memory."""
        return True, self.inlets.get(inlet_id)

    def inlet(self, inlet_id: str) -> InletInfo | None:
        """The inlet, or None."""
        return self.inlets.get(inlet_id)


class Relay:
    """The relay's parts: inlets, outbox, group commit, ingress pipeline and forwarder.

    :param config: what it fronts and how it runs.
    :param registry: the plugins (the installed ones by default).
    :param settings: IMS credentials for authenticated inlets (``SOURCEFLOW_*`` by default).
    """

    def __init__(
        self,
        config: RelayConfig,
        registry: plugins.Registry | None = None,
        settings: sf_config.Settings | None = None,
    ) -> None:
        self.config = config
        self.registry = registry or plugins.load()
        self.settings = settings or sf_config.from_env()
        self.inlets = RelayInlets(config, self.registry, self.settings.org_id)
        self.outbox: Outbox = open_outbox(config.store)
        self.forwarder = Forwarder(self.outbox, config, self.settings)
        self.commits = GroupCommit(self.outbox, on_commit=self.forwarder.wake)
        self.ingress = Ingress(
            self.inlets, None, self.registry, OutboxSink(self.outbox, self.commits)
        )
        self.log = get_logger("sourceflow.relay")

    def start(self) -> None:
        """Open the store, then take and forward messages."""
        self.outbox.open()
        self.commits.start()
        self.forwarder.start()
        self.log.info(
            "relay started",
            store=self.config.describe_store(),
            flows=[f.name for f in self.config.flows],
            batch_max_bytes=self.config.batch_max_bytes,
        )

    def stop(self) -> None:
        """Stop forwarding (after the batch in flight), commit what is queued, close."""
        self.forwarder.stop()
        self.commits.stop()
        self.outbox.close()
        self.log.info("relay stopped", forwarded=self.forwarder.forwarded)


def create_app(relay: Relay) -> Starlette:
    """The ASGI app of one relay process."""

    async def healthz(request: Request) -> Response:
        """200 while the store answers and the forwarder runs; 503 otherwise."""
        try:
            await anyio.to_thread.run_sync(relay.outbox.ping)
        except Exception as exc:
            relay.log.error("health check: store unreachable", error=type(exc).__name__)
            return answer({"status": "unavailable", "detail": "the store does not answer"}, 503)
        if not relay.forwarder.alive:
            return answer({"status": "unavailable", "detail": "the forwarder is stopped"}, 503)
        return answer(
            {"status": "ok", "store": relay.outbox.kind, "flows": len(relay.config.flows)}
        )

    routes: list[Route] = [
        *Collection(lambda: relay.ingress, MAX_MESSAGE_BYTES).routes(),
        Route("/healthz", healthz, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(relay.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(relay.stop)

    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIds)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.relay = relay
    return app
