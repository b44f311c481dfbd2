"""Meta's webhook, per connection: the GET handshake and the signed POST.

A status POST is ``serve``'s busiest request (Meta sends most statuses one per POST), and the
work it needs is small: read the body, check its signature, hand it to the group commit,
answer 200. As an ordinary Litestar route about half of its CPU went to the machinery around
that (the handler's parameters and their validation, dependency injection, the response
object, the metrics middleware: docs/webhooks.md, "The webhook's route"). The route is
therefore a Litestar ASGI route (mounted at the bare path, reading ``connection_id`` from
what follows it): Litestar still routes it and turns what it raises into problem JSON with
the app's exception handlers (``problems.py``), while the handler reads and answers the ASGI
messages itself:

- POST: the body (over the app's limit, 10 MB: 413), ``ReceiveWebhook`` (application
  scope: it holds nothing of one request), 200 ``ok``, the pump kicked;
- GET: Meta's verification handshake;
- anything else: 405.

It counts its requests itself, in the Prometheus middleware's ``http_requests_*`` series
under its path templates (the middleware skips it: ``OWN_METRICS``). Litestar's OpenAPI
schema has no ASGI routes: the two methods are described in docs/webhooks.md.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast
from urllib.parse import parse_qsl

from dishka import AsyncContainer
from litestar import Litestar, Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    MethodNotAllowedException,
    NotFoundException,
)
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from litestar.types import Receive, Scope, Send

from application.use_cases.receive_webhook import ReceiveWebhook
from entrypoints.background import WebhookPump
from entrypoints.http.problems import problem
from infrastructure.config import Config

PATH = "/webhooks/whatsapp"
#: The route's path templates, as Litestar names them (the ``path`` label of its metrics).
_TEMPLATES = {False: PATH, True: PATH + "/{connection_id}"}
#: A route handler's ``opt`` key that keeps the Prometheus middleware off it.
OWN_METRICS = "own_metrics"

# Inside, scopes and messages are plain mappings (Litestar's TypedDicts are unions of the HTTP
# and WebSocket shapes; only HTTP reaches this route).
_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_TEXT = b"text/plain; charset=utf-8"
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", _TEXT), (b"content-length", b"2")],
}
_OK_BODY = {"type": "http.response.body", "body": b"ok", "more_body": False}


class _Metrics:
    """The series the Prometheus middleware keeps, with their children cached (``labels()``
    takes a lock and builds a key on every call)."""

    def __init__(self, config: PrometheusConfig) -> None:
        self._middleware = PrometheusMiddleware(app=None, config=config)  # type: ignore[arg-type]
        self._app_name = config.app_name
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}
        self._progress: dict[tuple[str, str], Any] = {}

    def _labels(self, method: str, template: str, status: int) -> dict[str, str | int | float]:
        return {
            "method": method,
            "path": template,
            "status_code": status,
            "app_name": self._app_name,
        }

    def started(self, method: str, template: str) -> Any:
        gauge = self._progress.get((method, template))
        if gauge is None:
            labels = self._labels(method, template, 200)
            gauge = self._middleware.requests_in_progress(labels).labels(*labels.values())
            self._progress[(method, template)] = gauge
        gauge.inc()
        return gauge

    def finished(self, method: str, template: str, status: int, seconds: float) -> None:
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            labels = self._labels(method, template, status)
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
            self._children[key] = children
        count, duration, errors = children
        count.inc()
        duration.observe(seconds)
        if errors is not None:
            errors.inc()


class _Status:
    """The status a request was answered with."""

    __slots__ = ("code",)

    def __init__(self) -> None:
        self.code = 500


class MetaWebhook:
    """The route's handler, one per app."""

    def __init__(
        self, container: AsyncContainer, pump: WebhookPump, prometheus: PrometheusConfig
    ) -> None:
        self._container = container
        self._pump = pump
        self._metrics = _Metrics(prometheus)
        self._receive: ReceiveWebhook | None = None
        self._config: Config | None = None

    def route(self) -> ASGIRouteHandler:
        async def meta_webhook(scope: Scope, receive: Receive, send: Send) -> None:
            await self(cast("_Scope", scope), cast("_Receive", receive), cast("_Send", send))

        # A mount: Litestar's router does not parse path parameters of ASGI routes (2.x), so
        # the route takes the paths under it and reads ``connection_id`` itself.
        return asgi(PATH, is_mount=True, copy_scope=False, opt={OWN_METRICS: True})(meta_webhook)

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        rest = scope["path"].strip("/")  # what follows PATH
        if rest and not (rest.isascii() and rest.isdigit()):
            raise NotFoundException  # as the path's route, which took only an int
        connection_id = int(rest) if rest else None
        scope["path"] = f"{PATH}/{rest}" if rest else PATH  # the mount left only the rest
        method = scope["method"]
        template = _TEMPLATES[connection_id is not None]
        started = time.perf_counter()
        gauge = self._metrics.started(method, template)
        status = _Status()

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.code = message["status"]
            await send(message)

        try:
            if method == "POST":
                await self._post(scope, receive, sending, connection_id)
            elif method == "GET":
                await self._handshake(scope, receive, sending)
            else:
                raise MethodNotAllowedException(headers={"allow": "GET, POST"})
        except Exception as exc:
            await _problem(scope, receive, sending, exc)
        finally:
            gauge.dec()
            self._metrics.finished(method, template, status.code, time.perf_counter() - started)

    async def _post(
        self, scope: _Scope, receive: _Receive, send: _Send, connection_id: int | None
    ) -> None:
        body = await _body(scope, receive)
        signature = None
        for name, value in scope["headers"]:
            if name == b"x-hub-signature-256":
                signature = value.decode("latin-1")
                break
        if self._receive is None:
            self._receive = await self._container.get(ReceiveWebhook)
        # Raises InvalidSignature (401), NotConfigured or UpstreamUnavailable (503), ...:
        # Litestar answers them with the app's exception handlers.
        await self._receive(connection_id, body, signature)
        self._pump.kick()
        await send(_OK_START)
        await send(_OK_BODY)

    async def _handshake(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        """200 with ``hub.challenge`` as the raw body when the token matches; 403 otherwise."""
        if self._config is None:
            self._config = await self._container.get(Config)
        query: dict[str, str] = {}
        for name, value in parse_qsl(scope["query_string"].decode("latin-1")):
            query.setdefault(name, value)
        expected = self._config.meta_verify_token or ""
        token = query.get("hub.verify_token", "")
        if (
            query.get("hub.mode") == "subscribe"
            and expected
            and hmac.compare_digest(token, expected)
        ):
            challenge = query.get("hub.challenge", "").encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", _TEXT),
                        (b"content-length", str(len(challenge)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": challenge, "more_body": False})
            return
        refused = problem(403, "Forbidden", "verification token does not match")
        await _answer(scope, receive, send, lambda _: refused)


async def _problem(scope: _Scope, receive: _Receive, send: _Send, exc: Exception) -> None:
    """``exc`` answered by the app's exception handler for it (the nearest class), as
    Litestar's exception middleware would; here, so that the answer's status is counted."""
    handlers = cast("ASGIRouteHandler", scope["route_handler"]).resolve_exception_handlers()
    handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
    if handler is None:
        raise exc
    await _answer(scope, receive, send, lambda request: handler(request, exc))


async def _answer(
    scope: _Scope,
    receive: _Receive,
    send: _Send,
    respond: Callable[[Request[Any, Any, Any]], Response[Any]],
) -> None:
    """Sends a Litestar ``Response`` (a problem: the rare answers) as the route's answer."""
    request: Request[Any, Any, Any] = Request(cast("Scope", scope), cast("Receive", receive))
    answer = respond(request).to_asgi_response(None, request)  # the app: request.app
    await answer(cast("Scope", scope), cast("Receive", receive), cast("Send", send))


async def _body(scope: _Scope, receive: _Receive) -> bytes:
    """The request's body, refused (413) past the app's limit, as Litestar's ``Request``."""
    limit = cast("Litestar", scope["app"]).request_max_body_size
    limit = limit if isinstance(limit, int) else 0  # 0: no limit
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


__all__ = ["OWN_METRICS", "PATH", "MetaWebhook"]
