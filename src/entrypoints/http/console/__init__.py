"""The operator console: server-rendered pages under ``/console`` over the portal's use cases,
behind the portal's JWT kept in a session cookie (docs/console.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dishka.integrations.litestar import DishkaRouter
from litestar import Request, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template import TemplateConfig

from domain.errors import Forbidden, NotFound, Unauthenticated, UpstreamUnavailable
from entrypoints.http.console.opt_outs import OptOutsPageController
from entrypoints.http.console.pages import LoginController, WorkspaceController
from entrypoints.http.console.phone import PhoneController
from entrypoints.http.console.session import BASE, csrf_token

TEMPLATES = Path(__file__).parent / "templates"


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine)


def console_router() -> DishkaRouter:
    return DishkaRouter(
        "",
        route_handlers=[
            LoginController,
            WorkspaceController,
            PhoneController,
            OptOutsPageController,
        ],
        exception_handlers={
            Unauthenticated: _to_login,
            Forbidden: _forbidden,
            NotFound: _not_found,
            UpstreamUnavailable: _unavailable,
        },
        include_in_schema=False,
    )


def _to_login(_: Request[Any, Any, Any], __: Unauthenticated) -> Response[Any]:
    return Redirect(f"{BASE}/login")


def _forbidden(request: Request[Any, Any, Any], exc: Forbidden) -> Response[Any]:
    return _error(request, 403, "Not allowed", str(exc))


def _not_found(request: Request[Any, Any, Any], exc: NotFound) -> Response[Any]:
    # Another workspace's conversation is "not found" too: the page says no more than the API.
    return _error(request, 404, "Not found", str(exc))


def _unavailable(request: Request[Any, Any, Any], exc: UpstreamUnavailable) -> Response[Any]:
    return _error(request, 503, "Try again", str(exc))


def _error(request: Request[Any, Any, Any], status: int, title: str, detail: str) -> Response[Any]:
    caller = getattr(request.state, "console_caller", None)
    return Template(
        "error.html.j2",
        context={"title": title, "detail": detail, "caller": caller, "csrf": csrf_token(request)},
        status_code=status,
    )
