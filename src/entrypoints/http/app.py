"""The app factory: routes, dependency injection, problem JSON, OpenAPI and metrics."""

from __future__ import annotations

import structlog
from dishka import AsyncContainer
from dishka.integrations.litestar import DishkaRouter, setup_dishka
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import Receive, Scope, Send

from application.ports.auth import PushAuthenticator
from entrypoints.background import WebhookPump
from entrypoints.http.api_docs import docs_assets, docs_page
from entrypoints.http.body import JsonBodyRequest
from entrypoints.http.console import console_router, template_config
from entrypoints.http.health import HealthController
from entrypoints.http.portal import portal_router
from entrypoints.http.portal.docs import security_schemes
from entrypoints.http.problems import exception_handlers
from entrypoints.http.pubsub_push import PubSubPushController
from entrypoints.http.tracking import TrackingController
from entrypoints.http.webhooks import OWN_METRICS, PATH, MetaWebhook
from infrastructure.config import Config

_log = structlog.get_logger("http")

VERSION = "0.1.0"


def create_app(container: AsyncContainer, *, run_pump: bool = True) -> Litestar:
    """A new app on ``container``; closing the app closes the container.

    ``run_pump`` starts the background webhook processing (tests may drive it themselves).
    """
    prometheus = PrometheusConfig(
        app_name="fdr_whatsapp", group_path=True, prefix="http", exclude_opt_key=OWN_METRICS
    )
    pump = WebhookPump(container)

    async def warn_if_pushes_are_open() -> None:
        config = await container.get(Config)
        if not config.meta_sandbox and (await container.get(PushAuthenticator)).is_open:
            _log.warning(  # the sandbox sends nothing real; elsewhere anyone could
                "POST /pubsub/push/fdr accepts events from anyone who can reach it; set "
                "WA_PUBSUB_PUSH_TOKEN or WA_PUBSUB_PUSH_AUDIENCE unless only Pub/Sub can"
            )

    async def start_pump() -> None:
        if run_pump:
            pump.start()

    async def close() -> None:
        await pump.stop()
        await container.close()

    app = Litestar(
        route_handlers=[
            DishkaRouter(
                "",
                route_handlers=[
                    HealthController,
                    PubSubPushController,
                    TrackingController,
                ],
            ),
            # Meta's webhook: an ASGI route, without the per-request work it does not need.
            MetaWebhook(container, pump, prometheus).route(),
            portal_router(),
            console_router(),
            docs_assets(),
            PrometheusController,
        ],
        exception_handlers=exception_handlers(),
        template_config=template_config(),
        request_class=JsonBodyRequest,
        middleware=[prometheus.middleware],
        on_startup=[warn_if_pushes_are_open, start_pump],
        on_shutdown=[close],
        openapi_config=OpenAPIConfig(
            title="fdr-whatsapp",
            version=VERSION,
            description=(
                "Failed-delivery notifications on WhatsApp: the portal API, Meta's webhook, "
                "the Pub/Sub push endpoint and the tracking redirect."
            ),
            path="/schema",
            components=Components(security_schemes=security_schemes()),
            render_plugins=[docs_page()],
        ),
        debug=False,
        logging_config=None,
    )
    app.state.webhook_pump = pump
    _setup_dishka(container, app)
    return app


def _setup_dishka(container: AsyncContainer, app: Litestar) -> None:
    """dishka's request containers, except for Meta's webhook: it needs none (webhooks.py),
    and opening one cost about a tenth of the CPU of its requests."""
    without = app.asgi_handler
    setup_dishka(container, app)
    with_container = app.asgi_handler
    prefix = PATH + "/"

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == PATH or path.startswith(prefix):
            await without(scope, receive, send)
        else:
            await with_container(scope, receive, send)

    app.asgi_handler = handler
