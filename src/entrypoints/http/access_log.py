"""One log line per HTTP request (the demo's access log): method, path, status, time taken.

Query strings are left out (a login code or a tracking link's reference would otherwise land
in the log) and phone-like numbers in the path are masked, as in every other log line."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from infrastructure.logging import mask_phones

_log = structlog.get_logger("access")


Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:  # the wrapped app's state, hooks, ...
        return getattr(self._app, name)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            _log.info(
                f"{scope['method']} {mask_phones(scope['path'])} {status}",
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
