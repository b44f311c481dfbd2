"""A closed-loop HTTP/1.1 load generator on raw asyncio streams.

Each of ``concurrency`` keep-alive connections sends the next pre-framed request as soon as
the previous answer is read, until the requests or the time run out. Requests are framed and
signed before the clock starts, and no HTTP library sits in the loop, so the generator takes
as little as possible of the CPU it shares with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field


class HttpError(RuntimeError):
    pass


@dataclass
class Outcome:
    """What one request did: when it started (monotonic), how long it took, the status."""

    started: float
    seconds: float
    status: int
    index: int  # position in the request list


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 200]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            await self._skip_chunks()
        elif length:
            await self.reader.readexactly(length)
        return status

    async def _skip_chunks(self) -> None:
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            await self.reader.readexactly(size + 2)
            if size == 0:
                return

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def run_closed_loop(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    concurrency: int,
    duration: float,
) -> LoadResult:
    """Sends ``requests`` in order over ``concurrency`` connections for at most ``duration`` s."""
    pending: deque[int] = deque(range(len(requests)))
    result = LoadResult()
    connections = [await _Connection.open(host, port) for _ in range(concurrency)]
    clock = time.monotonic
    result.started = clock()
    deadline = result.started + duration

    async def client(connection: _Connection) -> None:
        outcomes = result.outcomes
        while pending and clock() < deadline:
            index = pending.popleft()
            began = clock()
            try:
                status = await connection.exchange(requests[index])
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}")
                outcomes.append(Outcome(began, clock() - began, 0, index))
                return
            outcomes.append(Outcome(began, clock() - began, status, index))

    try:
        await asyncio.gather(*(client(c) for c in connections))
    finally:
        result.finished = clock()
        for connection in connections:
            await connection.close()
    return result
