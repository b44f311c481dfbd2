"""What every fake upstream shares: a real aiohttp server on a free local port, a log of the
requests it saw, and faults programmed by the test and consumed one per request, in order."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict


@dataclass(frozen=True, slots=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: Literal["fail", "delay", "drop"]
    status: int = 500
    seconds: float = 0.0


def json_error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"status": "error", "error": error, "message": message}, status=status)


class FakeServer:
    """Subclasses add routes in ``_routes``; tests use ``start()``/``stop()`` and ``url``.

    Faults (each one consumes one request, in the order programmed):

    - ``fail_next(status, times)``: answer ``status`` with a JSON error; nothing is handled.
    - ``delay_next(seconds)``: handle the request, then hold the answer back ``seconds``
      (a slow upstream that did the work: the client may time out and ask again).
    - ``drop_next()``: handle the request, then close the connection without an answer.
    """

    def __init__(self) -> None:
        self.requests: list[SeenRequest] = []
        self._faults: deque[Fault] = deque()
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the fake server is not started")
        return f"http://127.0.0.1:{self._port}"

    def fail_next(self, status: int, times: int = 1) -> None:
        self._faults.extend([Fault("fail", status=status)] * times)

    def delay_next(self, seconds: float) -> None:
        self._faults.append(Fault("delay", seconds=seconds))

    def drop_next(self) -> None:
        self._faults.append(Fault("drop"))

    def requests_to(self, path: str) -> list[SeenRequest]:
        return [r for r in self.requests if r.path == path]

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        self._routes(app)
        # A short shutdown: a delayed answer nobody waits for must not hold the test up.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(
            SeenRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=CIMultiDict(request.headers),
                body=await request.read(),
            )
        )
        fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "fail":
            return json_error(fault.status, "injected", f"injected fault: HTTP {fault.status}")
        response = await handler(request)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        elif fault is not None and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()
        return response
