"""``/schema``: the API docs page with Swagger UI served by the service itself, so that it
renders with no internet (the assets come from the ``swagger-ui-bundle-v2`` package, Apache-2.0;
docs/console.md)."""

from __future__ import annotations

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/static/swagger-ui"


def docs_page() -> SwaggerRenderPlugin:
    """Swagger UI at ``/schema`` (and ``/schema/swagger``, where it was before)."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )


def docs_assets() -> Router:
    return create_static_files_router(
        path=ASSETS,
        directories=[str(swagger_ui_path)],
        include_in_schema=False,
        cache_control=None,
    )
