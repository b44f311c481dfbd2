"""The console's door: the portal JWT kept in an HttpOnly, SameSite=Strict cookie, and a
double-submit CSRF token on every form that changes something (docs/console.md)."""

from __future__ import annotations

import secrets
from typing import Any

from dishka import AsyncContainer
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler

from application.ports.auth import Caller, TokenVerifier
from domain.errors import Forbidden
from entrypoints.http.portal.auth import ACCOUNT_PARAM

BASE = "/console"
SESSION_COOKIE = "fdr_console"
CSRF_COOKIE = "fdr_console_csrf"
CSRF_FIELD = "csrf"


async def caller_of(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Caller:
    """The token's caller, checked exactly as the portal API checks a bearer token."""
    container: AsyncContainer = connection.state.dishka_container
    verifier: TokenVerifier = await container.get(TokenVerifier)
    return await verifier.verify(token)


async def console_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """No or an expired session: ``Unauthenticated`` (the login page); a workspace the token
    does not name: ``Forbidden``. The caller is kept for the handler's page."""
    caller = await caller_of(connection, connection.cookies.get(SESSION_COOKIE, ""))
    account_id = connection.path_params.get(ACCOUNT_PARAM)
    if account_id is not None and not caller.may_manage(account_id):
        raise Forbidden(f"your token does not allow workspace {account_id}")
    connection.state.console_caller = caller


def csrf_token(request: Request[Any, Any, Any], cookie: str = CSRF_COOKIE) -> str:
    """The CSRF token of this browser (made on its first form page)."""
    token = request.cookies.get(cookie) or request.scope.get("console_csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.scope["console_csrf"] = token  # type: ignore[typeddict-unknown-key]
    return str(token)


def with_csrf_cookie(
    request: Request[Any, Any, Any],
    response: Response[Any],
    cookie: str = CSRF_COOKIE,
    path: str = BASE,
) -> Response[Any]:
    if cookie not in request.cookies:
        response.set_cookie(_cookie(request, cookie, csrf_token(request, cookie), path))
    return response


def check_csrf(request: Request[Any, Any, Any], submitted: str, cookie: str = CSRF_COOKIE) -> None:
    """A form posted from another site cannot know the cookie's value (SameSite=Strict keeps
    the session cookie off such requests as well)."""
    expected = request.cookies.get(cookie, "")
    if not expected or not secrets.compare_digest(expected, submitted):
        raise Forbidden("the form is out of date: reload the page and send it again")


def session_cookie(request: Request[Any, Any, Any], token: str) -> Cookie:
    return _cookie(request, SESSION_COOKIE, token)


def _cookie(request: Request[Any, Any, Any], key: str, value: str, path: str = BASE) -> Cookie:
    # Secure where the browser came over HTTPS (behind a proxy, as uvicorn's --proxy-headers
    # reports it); plain HTTP is the demo on localhost.
    return Cookie(
        key=key,
        value=value,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


class OneTimeLogins:
    """Login links of ``fdr-whatsapp demo``: a random code stands for a portal token and works
    once (the token itself never appears in a URL, a browser history or the access log)."""

    STATE_KEY = "one_time_logins"

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def issue(self, token: str) -> str:
        code = secrets.token_urlsafe(24)
        self._tokens[code] = token
        return code

    def redeem(self, code: str) -> str | None:
        return self._tokens.pop(code, None)
