"""The Meta client's transport: HTTP/1.1 keep-alive connections on asyncio, framed by h11
(docs/meta.md#the-http-client).

``httpx``'s own transport goes through httpcore's pool and anyio: for every request httpcore
walks every pooled connection (polling each idle socket), and every read and write opens an
anyio cancel scope; at 128 sends in flight that is most of a send's CPU. This transport is an
ordinary ``httpx`` transport (httpx's requests, answers, timeouts and errors) framed by h11
(what httpcore frames with), and does the rest directly on asyncio:

- idle connections are kept per origin, newest first: taking one is a pop, not a walk; one
  the server has closed while idle (data or end of stream received) is dropped then, without a
  system call;
- the request's head and body leave in one write;
- a read waits on the connection's own future, its timeout a timer on the event loop.

Each request's body is sent whole and the answer read whole (the Graph API's are small);
``timeout`` in the request's extensions as ``httpx`` sets them (connect, read, write, pool).
A request that fails or is cancelled closes its connection: only a connection whose exchange
ended cleanly is used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from typing import Any

import h11
import httpx

_Origin = tuple[str, str, int]


class Http11Transport(httpx.AsyncBaseTransport):
    """At most ``max_connections`` connections (open or opening), idle ones kept
    ``keepalive_expiry`` seconds."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float = 5.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("need at least one connection")
        self._max = max_connections
        self._keepalive = keepalive_expiry
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None  # built on the first https request
        self._idle: dict[_Origin, deque[_Connection]] = {}  # oldest first
        self._open = 0  # connections open or opening, idle ones included
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"{scheme!r} is not http or https", request=request)
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        connection = await self._acquire(origin, timeouts, request)
        try:
            status, headers, reason, content = await connection.exchange(request, body, timeouts)
        except BaseException:
            self._drop(connection)
            raise
        self._release(origin, connection)
        return httpx.Response(
            status_code=status,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
                self._open -= 1
        self._idle.clear()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # --- the pool ------------------------------------------------------------------------

    async def _acquire(
        self, origin: _Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> _Connection:
        pool_timeout = timeouts.get("pool")
        deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
        woken = False
        while True:
            if self._closed:
                raise httpx.ConnectError("the transport is closed", request=request)
            idle = self._idle.get(origin)
            now = time.monotonic()
            while idle:
                connection = idle.pop()
                if connection.usable(now):
                    return connection
                self._drop(connection)
            if self._open >= self._max:
                self._evict_idle()
            if self._open < self._max:
                self._open += 1
                try:
                    context = self._context(origin)
                    return await _Connection.open(origin, context, timeouts, request)
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            await self._wait(deadline, request, first_in_line=woken)
            woken = True

    async def _wait(
        self, deadline: float | None, request: httpx.Request, *, first_in_line: bool
    ) -> None:
        """Until a connection is given back or closed; one woken but beaten to it by a newer
        request waits again first in line."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if first_in_line:
            self._waiting.appendleft(waiter)
        else:
            self._waiting.append(waiter)
        try:
            async with asyncio.timeout_at(None if deadline is None else _loop_time(deadline)):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # woken but leaving: the turn goes to the next in line
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("no connection free in time", request=request) from None
            raise

    def _release(self, origin: _Origin, connection: _Connection) -> None:
        if self._closed or not connection.reusable():
            self._drop(connection)
            return
        now = time.monotonic()
        connection.idle_until(now + self._keepalive)
        idle = self._idle.setdefault(origin, deque())
        while idle and not idle[0].usable(now):  # the oldest, unused past their keep-alive
            self._drop(idle.popleft())
        idle.append(connection)
        self._wake()

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _evict_idle(self) -> None:
        """Makes room for another origin: the first idle connection found is closed."""
        for connections in self._idle.values():
            if connections:
                connections.popleft().close()
                self._open -= 1
                return

    def _context(self, origin: _Origin) -> ssl.SSLContext | None:
        if origin[0] != "https":
            return None
        if self._ssl is None:
            self._ssl = self._verify if self._verify is not None else httpx.create_ssl_context()
        return self._ssl


def _loop_time(deadline: float) -> float:
    """A ``time.monotonic`` deadline on the event loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


class _Connection:
    """One HTTP/1.1 connection: an asyncio protocol, h11's state of the exchange."""

    def __init__(self, transport: asyncio.Transport, protocol: _Reader) -> None:
        self._transport = transport
        self._reader = protocol
        self._h11 = h11.Connection(h11.CLIENT)
        self._idle_until = 0.0

    @classmethod
    async def open(
        cls,
        origin: _Origin,
        context: ssl.SSLContext | None,
        timeouts: dict[str, float | None],
        request: httpx.Request,
    ) -> _Connection:
        _, host, port = origin
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                transport, protocol = await loop.create_connection(
                    _Reader, host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no connection to {host}:{port} in time", request=request
            ) from None
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return cls(transport, protocol)

    def usable(self, now: float) -> bool:
        """Idle, within its keep-alive, and not closed by the server meanwhile."""
        return now < self._idle_until and not self._reader.touched()

    def idle_until(self, moment: float) -> None:
        self._idle_until = moment

    def reusable(self) -> bool:
        state = self._h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
            return not self._transport.is_closing()
        return False

    def close(self) -> None:
        self._transport.close()

    async def exchange(
        self, request: httpx.Request, body: bytes, timeouts: dict[str, float | None]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bytes]:
        """Sends the request, reads the whole answer: status, headers, reason, body."""
        state = self._h11
        try:
            head = h11.Request(
                method=request.method,
                target=request.url.raw_path,
                headers=request.headers.raw,
            )
            wire = state.send(head) or b""
            if body:
                wire += state.send(h11.Data(data=body)) or b""
            wire += state.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        await self._write(wire, timeouts.get("write"), request)
        read_timeout = timeouts.get("read")
        status, headers, reason = 0, [], b""
        chunks: list[bytes] = []
        try:
            while True:
                event = state.next_event()
                if event is h11.NEED_DATA:
                    state.receive_data(await self._reader.read(read_timeout, request))
                elif isinstance(event, h11.Response):
                    status, headers, reason = (
                        event.status_code,
                        event.headers.raw_items(),
                        event.reason,
                    )
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    return status, headers, reason, b"".join(chunks)
                elif isinstance(event, h11.ConnectionClosed):
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection without an answer", request=request
                    )
                # an informational answer (1xx) is passed over: the final one follows
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc

    async def _write(self, data: bytes, seconds: float | None, request: httpx.Request) -> None:
        if self._transport.is_closing() or self._reader.lost:
            raise httpx.WriteError("the connection is closed", request=request)
        self._transport.write(data)
        await self._reader.drained(seconds, request)


class _Reader(asyncio.Protocol):
    """What arrives on a connection, and whether it may be written to."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._ended = False
        self.lost = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._drain: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self._ended = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._error = exc
        self._wake()
        self._resume()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._resume()

    def touched(self) -> bool:
        """Anything received (or the end of the stream) while nothing was asked: for an idle
        HTTP/1.1 connection only a server closing it does that."""
        return bool(self._chunks) or self._ended or self.lost

    async def read(self, seconds: float | None, request: httpx.Request) -> bytes:
        """The next bytes received (``seconds`` at most to wait); ``b""`` at the end of the
        stream."""
        if not self._chunks and not self._ended and not self.lost:
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                if not await _within(waiter, seconds):
                    raise httpx.ReadTimeout("no answer in time", request=request)
            finally:
                self._waiter = None
        if self._chunks:
            return self._chunks.popleft()
        if self._error is not None:
            raise httpx.ReadError(f"{type(self._error).__name__}: {self._error}", request=request)
        return b""

    async def drained(self, seconds: float | None, request: httpx.Request) -> None:
        """Waits (``seconds`` at most) while the transport's write buffer is over its
        high-water mark."""
        if not self._paused or self.lost:
            return
        self._drain = drain = asyncio.get_running_loop().create_future()
        try:
            if not await _within(drain, seconds):
                raise httpx.WriteTimeout("the request did not leave in time", request=request)
        finally:
            self._drain = None
        if self.lost:
            raise httpx.WriteError("the connection closed while writing", request=request)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _resume(self) -> None:
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)


async def _within(future: asyncio.Future[None], seconds: float | None) -> bool:
    """Awaits ``future``; False when ``seconds`` passed first (a timer on the loop, cheaper
    than a timeout context per read)."""
    timer = None
    if seconds is not None:
        timer = asyncio.get_running_loop().call_later(seconds, _time_out, future)
    try:
        await future
    except TimeoutError:
        return False
    finally:
        if timer is not None:
            timer.cancel()
    return True


def _time_out(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
