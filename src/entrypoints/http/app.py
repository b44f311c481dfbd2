"""The app factory: routes, dependency injection, problem JSON, OpenAPI and metrics."""

from __future__ import annotations

from dishka import AsyncContainer
from dishka.integrations.litestar import DishkaRouter, setup_dishka
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from entrypoints.http.health import HealthController
from entrypoints.http.problems import exception_handlers

VERSION = "0.1.0"


def create_app(container: AsyncContainer) -> Litestar:
    """A new app on ``container``; closing the app closes the container."""
    prometheus = PrometheusConfig(app_name="fdr_whatsapp", group_path=True, prefix="http")

    async def close_container() -> None:
        await container.close()

    app = Litestar(
        route_handlers=[
            DishkaRouter("", route_handlers=[HealthController]),
            PrometheusController,
        ],
        exception_handlers=exception_handlers(),
        middleware=[prometheus.middleware],
        on_shutdown=[close_container],
        openapi_config=OpenAPIConfig(
            title="fdr-whatsapp",
            version=VERSION,
            description=(
                "Failed-delivery notifications on WhatsApp: the portal API, Meta's webhook, "
                "the Pub/Sub push endpoint and the tracking redirect."
            ),
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=False,
        logging_config=None,
    )
    setup_dishka(container, app)
    return app
