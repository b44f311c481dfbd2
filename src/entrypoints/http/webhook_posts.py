"""Meta's webhook POSTs straight to ``ReceiveWebhook``, ahead of Litestar's per-request work.

A status POST is ``serve``'s busiest request (Meta sends most statuses one per POST), and
the work it needs is small: read the body, check its signature, hand it to the group commit,
answer 200. Routed through Litestar, about half of its CPU went to the machinery around that
(a request-scope container, the router, the exception and metrics middlewares, the handler's
parameters, the response object: docs/webhooks.md, "The POST's own path"). Here, in front of
the app, a POST to ``/webhooks/whatsapp`` or ``/webhooks/whatsapp/{connection_id}`` does only
that work, with the same outcomes as the route (whose handler stays, for the API's schema
and any path this does not take):

- the same use case (application scope: it holds nothing of one request);
- errors answered by the app's own exception handlers (``problems.py``): the same problem
  JSON for a bad signature (401), no secret (503), a database that does not answer (503);
- bodies over Litestar's limit (10 MB) refused with 413, as the route would;
- the same ``http_requests_*`` series, counted with the Prometheus middleware's metrics;
- the pump kicked after the body is stored.

Anything else (other methods and paths, other spellings of the path) goes to the app.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from dishka import AsyncContainer
from litestar import Litestar, Request
from litestar.exceptions import HTTPException, InternalServerException
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from litestar.types import ASGIApp, ExceptionHandlersMap, Receive, Scope, Send

from application.use_cases.receive_webhook import ReceiveWebhook
from entrypoints.background import WebhookPump

# Inside, scopes and messages are plain mappings (Litestar's TypedDicts are unions of HTTP
# and WebSocket shapes, and only HTTP reaches past the first check).
_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PATH = "/webhooks/whatsapp"
#: The route's path templates: the ``path`` label of its metrics.
_TEMPLATES = {False: PATH, True: PATH + "/{connection_id}"}
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")],
}
_OK_BODY = {"type": "http.response.body", "body": b"ok", "more_body": False}
_NOT_OURS = -1


def _connection_id(path: str) -> int | None:
    """``None`` for the bare path, the id for ``/{connection_id}``, ``_NOT_OURS`` otherwise."""
    if path == PATH:
        return None
    rest = path[len(PATH) + 1 :] if path.startswith(PATH + "/") else ""
    if rest.isascii() and rest.isdigit():
        return int(rest)
    return _NOT_OURS


class _Metrics:
    """The series the Prometheus middleware keeps for the route, with their children cached
    (``labels()`` takes a lock and builds a key on every call)."""

    def __init__(self, config: PrometheusConfig) -> None:
        self._middleware = PrometheusMiddleware(app=None, config=config)  # type: ignore[arg-type]
        self._app_name = config.app_name
        self._children: dict[tuple[str, int], tuple[Any, Any, Any | None]] = {}
        self._progress: dict[str, Any] = {}

    def _labels(self, template: str, status: int) -> dict[str, str | int | float]:
        return {
            "method": "POST",
            "path": template,
            "status_code": status,
            "app_name": self._app_name,
        }

    def started(self, template: str) -> Any:
        gauge = self._progress.get(template)
        if gauge is None:
            labels = self._labels(template, 200)
            gauge = self._middleware.requests_in_progress(labels).labels(*labels.values())
            self._progress[template] = gauge
        gauge.inc()
        return gauge

    def finished(self, template: str, status: int, seconds: float) -> None:
        children = self._children.get((template, status))
        if children is None:
            labels = self._labels(template, status)
            values = list(labels.values())
            errors = (
                self._middleware.requests_error_count(labels).labels(*values)
                if status >= 500
                else None
            )
            children = (
                self._middleware.request_count(labels).labels(*values),
                self._middleware.request_time(labels).labels(*values),
                errors,
            )
            self._children[(template, status)] = children
        count, duration, errors = children
        count.inc()
        duration.observe(seconds)
        if errors is not None:
            errors.inc()


class WebhookPosts:
    """Wraps the app's ASGI handler (``Litestar.asgi_handler``), so Litestar still sets up the
    scope (its ``app`` and ``state``) and runs the lifespan."""

    def __init__(
        self,
        app: Litestar,
        handler: ASGIApp,
        container: AsyncContainer,
        pump: WebhookPump | None,
        prometheus: PrometheusConfig,
        exception_handlers: ExceptionHandlersMap,
    ) -> None:
        self._app = app
        self._handler = handler
        self._container = container
        self._pump = pump
        self._metrics = _Metrics(prometheus)
        self._exception_handlers = exception_handlers
        self._receive: ReceiveWebhook | None = None
        limit = app.request_max_body_size
        self._max_body = limit if isinstance(limit, int) else 0  # 0: no limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        http = cast("_Scope", scope)
        if http["type"] != "http" or http["method"] != "POST":
            await self._handler(scope, receive, send)
            return
        connection_id = _connection_id(http["path"])
        if connection_id == _NOT_OURS:
            await self._handler(scope, receive, send)
            return
        template = _TEMPLATES[connection_id is not None]
        started = time.perf_counter()
        gauge = self._metrics.started(template)
        status = 500
        try:
            status = await self._receive_one(
                http, cast("_Receive", receive), cast("_Send", send), connection_id
            )
        finally:
            gauge.dec()
            self._metrics.finished(template, status, time.perf_counter() - started)

    async def _receive_one(
        self, scope: _Scope, receive: _Receive, send: _Send, connection_id: int | None
    ) -> int:
        """The status answered."""
        try:
            body = await self._body(scope, receive)
            signature = None
            for name, value in scope["headers"]:
                if name == b"x-hub-signature-256":
                    signature = value.decode("latin-1")
                    break
            if self._receive is None:
                self._receive = await self._container.get(ReceiveWebhook)
            await self._receive(connection_id, body, signature)
        except Exception as exc:
            return await self._problem(scope, receive, send, exc)
        if self._pump is not None:
            self._pump.kick()
        await send(_OK_START)
        await send(_OK_BODY)
        return 200

    async def _body(self, scope: _Scope, receive: _Receive) -> bytes:
        limit = self._max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                if limit and value.isdigit() and int(value) > limit:
                    raise HTTPException(status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE)
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # as Litestar's request says it
                raise InternalServerException("client disconnected prematurely")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if limit and size > limit:
                    raise HTTPException(status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE)
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _problem(self, scope: _Scope, receive: _Receive, send: _Send, exc: Exception) -> int:
        """``exc`` answered by the app's exception handler for it (the nearest class)."""
        handler = next(
            self._exception_handlers[cls]
            for cls in type(exc).__mro__
            if cls in self._exception_handlers
        )
        request: Request[Any, Any, Any] = Request(cast("Scope", scope), cast("Receive", receive))
        response = handler(request, exc)
        answer = response.to_asgi_response(self._app, request)
        await answer(cast("Scope", scope), cast("Receive", receive), cast("Send", send))
        return response.status_code or 500
