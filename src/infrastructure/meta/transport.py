"""The Meta client's transport: HTTP/1.1 keep-alive connections on asyncio; requests framed
here, answers parsed by httptools (llhttp, uvicorn's parser) (docs/meta.md#the-http-client).

``httpx``'s own transport goes through httpcore's pool and anyio: for every request httpcore
walks every pooled connection (polling each idle socket), and every read and write opens an
anyio cancel scope; at 128 sends in flight that is most of a send's CPU. This transport is an
ordinary ``httpx`` transport (httpx's requests, answers, timeouts and errors) that does the
rest directly on asyncio:

- idle connections are kept per origin, newest first: taking one is a pop, not a walk; one
  the server has closed while idle (data or end of stream received) is dropped then, without a
  system call;
- the request's head and body leave in one write, framed here (h11, which httpcore frames
  with, took about a tenth of ``serve``'s CPU per answer: BENCHMARKS.md, "Stop 16: answers");
- the answer is parsed by httptools (C), its headers and body as it gives them;
- a read waits on the connection's own future, its timeout a timer on the event loop.

Each request's body is sent whole and the answer read whole (the Graph API's are small);
``timeout`` in the request's extensions as ``httpx`` sets them (connect, read, write, pool).
A request that fails or is cancelled closes its connection: only a connection whose exchange
ended cleanly is used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections import deque
from typing import Any

import httptools
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
        framed = _frame(request, body)  # a head that may not leave is refused before a connection
        connection = await self._acquire(origin, timeouts, request)
        try:
            status, headers, reason, content = await connection.exchange(request, framed, timeouts)
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
    """One HTTP/1.1 connection: an asyncio protocol, and whether its last exchange ended
    cleanly (so that it may carry the next)."""

    def __init__(self, transport: asyncio.Transport, protocol: _Reader) -> None:
        self._transport = transport
        self._reader = protocol
        self._clean = False  # the last exchange read whole, and the server keeps the connection
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
        clean, self._clean = self._clean, False
        return clean and not self._transport.is_closing()

    def close(self) -> None:
        self._transport.close()

    async def exchange(
        self, request: httpx.Request, framed: bytes, timeouts: dict[str, float | None]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bytes]:
        """Sends the request (``framed``: as it goes on the wire), reads the whole answer:
        status, headers, reason, body."""
        self._clean = False
        await self._write(framed, timeouts.get("write"), request)
        read_timeout = timeouts.get("read")
        answer = _Answer(head=request.method == "HEAD")
        parser = httptools.HttpResponseParser(answer)
        answer.parser = parser
        try:
            while not answer.complete:
                data = await self._reader.read(read_timeout, request)
                if not data:
                    if answer.until_closed():  # no length given: the end of the stream ends it
                        return answer.status, answer.headers, answer.reason, answer.body()
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection without an answer", request=request
                    )
                parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not answer.complete:
                # One of ``_Answer``'s refusals says why better than httptools' wrapper.
                why = exc.__context__ if isinstance(exc.__context__, httpx.HTTPError) else exc
                raise httpx.RemoteProtocolError(str(why), request=request) from exc
            # Bytes after a whole answer: the answer stands, the connection is not used again.
            return answer.status, answer.headers, answer.reason, answer.body()
        # Anything after the answer (a server may not send before it is asked) spoils it.
        self._clean = answer.keep_alive and not self._reader.touched()
        return answer.status, answer.headers, answer.reason, answer.body()

    async def _write(self, data: bytes, seconds: float | None, request: httpx.Request) -> None:
        if self._transport.is_closing() or self._reader.lost:
            raise httpx.WriteError("the connection is closed", request=request)
        self._transport.write(data)
        await self._reader.drained(seconds, request)


#: What RFC 9110 allows in a header's name (a token) ...
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: ... and the bytes its value may not hold: control bytes but HTAB (CR, LF, NUL, ESC, DEL...).
#: The same set may not be in an answer's reason phrase.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _frame(request: httpx.Request, body: bytes) -> bytes:
    """The request's head (httpx sets ``Host`` and ``Content-Length``, or ``Transfer-Encoding:
    chunked`` for a body of unknown length: read whole here, it leaves as one chunk) and body,
    as they go on the wire. A name that is not a token, or a value with a control byte (one
    that would end its line early, a NUL ...), is refused before anything is written, as h11
    refused it (docs/meta.md#the-http-client)."""
    parts = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    chunked = False
    for name, value in request.headers.raw:
        if _CONTROL.search(value) is not None or _NAME.fullmatch(name) is None:
            raise httpx.LocalProtocolError(
                f"the header {_shown(name)} has a byte no header may hold", request=request
            )
        chunked = chunked or name.lower() == b"transfer-encoding"
        parts += (name, b": ", value, b"\r\n")
    if not chunked:
        parts += (b"\r\n", body)
    elif body:
        parts += (b"\r\n%x\r\n" % len(body), body, b"\r\n0\r\n\r\n")
    else:
        parts.append(b"\r\n0\r\n\r\n")
    return b"".join(parts)


def _shown(name: bytes) -> str:
    """A header's name as an error may say it (never its value: it may be the token)."""
    return repr(name[:40].decode("ascii", "replace"))


#: The most an answer may take (docs/meta.md). Meta's answers (to a send, a page of templates)
#: are kilobytes of JSON; a peer that sends far more is not Meta, and is not read into memory
#: without end (the h11 library this parser replaced capped a head at 16 KiB).
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024


class _Answer:
    """httptools' callbacks: the final answer as it is parsed (an informational one, 1xx, is
    passed over: the final one follows)."""

    __slots__ = (
        "_body_bytes",
        "_chunks",
        "_head",
        "_head_bytes",
        "_length",
        "complete",
        "headers",
        "keep_alive",
        "parser",
        "reason",
        "status",
    )

    def __init__(self, *, head: bool = False) -> None:
        self._head = head  # the answer to a HEAD request: no body, whatever its head says
        self.parser: httptools.HttpResponseParser | None = None
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []
        self._head_bytes = 0
        self._body_bytes = 0
        self._length = False  # the answer says where it ends (a length, or chunks)
        self.complete = False
        self.keep_alive = False  # the server keeps the connection (asked at the end: after
        # it, the parser is ready for another answer and says no more)

    def on_message_begin(self) -> None:
        if self.complete:  # another answer, nobody asked for it: it must not replace this one
            raise httpx.RemoteProtocolError("an answer after the answer")
        self.headers, self._chunks, self.status = [], [], 0
        self._head_bytes = self._body_bytes = 0

    def on_status(self, reason: bytes) -> None:
        self._count_head(len(reason))
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._length = True

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.status = self.parser.get_status_code()
        # llhttp refuses a control byte in a header (name or value) but lets one through in
        # the reason phrase, and takes any three digits for a status: neither is an answer.
        if not 100 <= self.status <= 599:
            raise httpx.RemoteProtocolError(f"an answer with the status {self.status}")
        if _CONTROL.search(self.reason) is not None:
            raise httpx.RemoteProtocolError("an answer whose status line holds a control byte")
        if self._head and self.status >= 200:  # the parser would wait for the length's bytes
            self.keep_alive, self.complete = False, True  # (the connection is not used again)
            raise httpx.RemoteProtocolError("the answer to a HEAD request ends with its head")

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > MAX_BODY_BYTES:
            raise httpx.RemoteProtocolError(f"an answer's body over {MAX_BODY_BYTES} bytes")
        self._chunks.append(body)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise httpx.RemoteProtocolError(f"an answer's head over {MAX_HEAD_BYTES} bytes")

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            self.reason, self._length = b"", False
            return  # informational: the final answer follows
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    def until_closed(self) -> bool:
        """Whether the end of the stream ends this answer: its head read, no length given."""
        return self.status >= 200 and not self._length

    def body(self) -> bytes:
        return b"".join(self._chunks)


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
