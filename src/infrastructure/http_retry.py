"""The one retry policy of the HTTP adapters to our own platform (ESB, integration engine).

Retried: 5xx, 408, 429, timeouts and dropped connections, with jittered exponential backoff
(tenacity), a bounded number of times; then ``UpstreamUnavailable``. Anything else is the
answer, for the adapter to read. (Meta's adapter has its own policy: a timeout there is an
unknown outcome, never retried.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from domain.errors import UpstreamUnavailable

Sleep = Callable[[float], Awaitable[None]]


class _Transient(Exception):
    """An answer worth asking again for."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 4.0
    sleep: Sleep = asyncio.sleep

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")


async def with_retries(
    call: Callable[[], Awaitable[httpx.Response]], policy: RetryPolicy, service: str
) -> httpx.Response:
    """The first answer that is not transient; ``UpstreamUnavailable`` if none came."""
    log = structlog.get_logger("http")

    def log_retry(state: RetryCallState) -> None:
        problem = state.outcome.exception() if state.outcome else None
        log.warning(
            f"{service} call failed, retrying", attempt=state.attempt_number, problem=str(problem)
        )

    async def once() -> httpx.Response:
        try:
            response = await call()
        except httpx.TransportError as exc:
            raise _Transient(type(exc).__name__) from exc
        if response.is_server_error or response.status_code in (408, 429):
            raise _Transient(f"HTTP {response.status_code}")
        return response

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_random_exponential(multiplier=policy.backoff, max=policy.max_backoff),
        retry=retry_if_exception_type(_Transient),
        sleep=policy.sleep,
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await once()
    except _Transient as exc:
        raise UpstreamUnavailable(
            f"{service} unavailable after {policy.attempts} attempts: {exc}"
        ) from exc
    raise AssertionError("tenacity stopped without an outcome")  # pragma: no cover
