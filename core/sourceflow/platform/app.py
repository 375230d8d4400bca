"""The local Flow Service as one Starlette app.

::

    from sourceflow.platform.app import PlatformConfig, create_app
    from sourceflow.platform.server import background

    app = create_app(PlatformConfig(data_dir=path))
    with background(app) as url:
        ...
    app.state.platform.wait_idle(5)   # the ingest worker has caught up

The inlet's POSTs are served as plain ASGI ahead of the middleware and the router
(:class:`~.web.Front`): the hot path pays for none of the layers other routes need.
``app.state.platform`` is the :class:`~sourceflow.platform.core.Platform`: the store, the token
issuer and the ingest worker, for tests and the CLI. The app also serves ``/metrics``
(:mod:`~.http.metrics`) and the web console at ``/console`` (:mod:`~.console`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from sourceflow import plugins
from sourceflow.config import IMS_TOKEN_PATH
from sourceflow.platform.catalog.routes import Catalog
from sourceflow.platform.core import Platform, PlatformConfig
from sourceflow.platform.dataprep import DataPrep
from sourceflow.platform.flowservice.routes import FlowService
from sourceflow.platform.http.metrics import Metrics, Observe
from sourceflow.platform.http.web import Call, Front, RequestIds, answer, http_error, route
from sourceflow.platform.ingest.traffic import Traffic
from sourceflow.platform.ingress.inlet import Inlet
from sourceflow.platform.runs.routes import Runs

__all__ = ["PlatformConfig", "create_app"]

IMS_BODY_LIMIT = 64 * 1024


def create_app(
    config: PlatformConfig | None = None, registry: plugins.Registry | None = None
) -> Starlette:
    """The app serving IMS, Flow Service, Data Prep, Catalog and the inlet.

    :param config: how to run; defaults to the dev credentials and ``.sourceflow/platform``.
    :param registry: the plugins whose sources it serves; None loads the installed ones, and
        looks again for plugins installed while it serves when a spec is unknown.
    """
    platform = Platform(
        config or PlatformConfig(), registry or plugins.load(), look_for_plugins=registry is None
    )

    def ims_token(call: Call) -> Response:
        """``POST /ims/token/v3``: a bearer token for the configured client."""
        return answer(platform.tokens.issue(call.body, dict(call.query.items())))

    from sourceflow.platform.console import Console

    metrics = Metrics(platform)
    console = Console(platform)
    inlet = Inlet(platform)
    routes: list[BaseRoute] = [
        # The front serves the inlet's POSTs; the router answers its other methods (405).
        *inlet.routes(),
        route(IMS_TOKEN_PATH, ims_token, ["POST"], guard=None, service="IMS", limit=IMS_BODY_LIMIT),
        *FlowService(platform).routes(),
        *DataPrep(platform).routes(),
        *Catalog(platform).routes(),
        *Runs(platform).routes(),
        *Traffic(platform).routes(),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        *console.routes(),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(platform.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(platform.stop)

    observe = Observe(None, metrics=metrics, access_log=platform.config.access_log)
    app = PlatformApp(
        front=Front(inlet.front_routes(), observe.finished),
        routes=routes,
        middleware=[
            Middleware(RequestIds),
            Middleware(Observe, metrics=metrics, access_log=platform.config.access_log),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.platform = platform
    app.state.metrics = metrics
    console.attach(app)
    return app


class PlatformApp(Starlette):
    """Starlette, with the inlet served ahead of its middleware and router (:class:`Front`).

    :param front: the plain ASGI routes tried first.
    """

    def __init__(self, *, front: Front, **options: Any) -> None:
        super().__init__(**options)
        self.front = front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self.front(scope, receive, send):
            await super().__call__(scope, receive, send)
