"""The Meta client's connection pool, split in shards (docs/meta.md#the-http-client).

httpcore walks every pooled connection twice per request (for each idle one it also polls the
socket and counts the whole pool again), so a pool of ~128 connections costs milliseconds of
CPU per send. Several small pools, each request given to the one with the fewest requests in
flight, do the same work with short walks. Each shard is an ordinary ``httpx`` transport:
timeouts, errors and keep-alive behave as with one pool.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx


class ShardedTransport(httpx.AsyncBaseTransport):
    """``shards`` HTTP/1.1 pools of ``max_connections // shards`` connections each."""

    def __init__(
        self,
        *,
        max_connections: int,
        shards: int,
        keepalive_expiry: float = 5.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        if shards < 1 or max_connections < shards:
            raise ValueError("need at least one connection per shard")
        per_shard = max_connections // shards
        # One SSL context for all: building one costs a few hundred milliseconds.
        context = verify if verify is not None else httpx.create_ssl_context()
        limits = httpx.Limits(
            max_connections=per_shard,
            max_keepalive_connections=per_shard,
            keepalive_expiry=keepalive_expiry,
        )
        self._shards = [
            httpx.AsyncHTTPTransport(verify=context, limits=limits) for _ in range(shards)
        ]
        self._in_flight = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        in_flight = self._in_flight
        index = in_flight.index(min(in_flight))
        in_flight[index] += 1
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            in_flight[index] -= 1
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _Counted(stream, self._in_flight, index)
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class _Counted(httpx.AsyncByteStream):
    """A response body that gives its shard's slot back when closed (once)."""

    def __init__(self, inner: httpx.AsyncByteStream, in_flight: list[int], index: int) -> None:
        self._inner = inner
        self._in_flight = in_flight
        self._index: int | None = index

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:
            yield part

    async def aclose(self) -> None:
        if self._index is not None:
            self._in_flight[self._index] -= 1
            self._index = None
        await self._inner.aclose()
