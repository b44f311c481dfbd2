"""The one base of the JSON-over-HTTP adapters to our own platform (the ESB, the integration
engine): a shared client, one base URL, a timeout, the retry policy of ``http_retry`` and one
way of reading why the other side refused (docs/esb.md, docs/patterns.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import httpx
import msgspec

from infrastructure.http_retry import RetryPolicy, with_retries
from infrastructure.logging import mask_phones

#: Enough for any reference or reason a service gives; more is noise in our records.
TEXT_LIMIT = 200


class _ProblemWire(msgspec.Struct, frozen=True):
    """What is read of a refusal: any other field, or no JSON at all, is fine."""

    message: str | None = None
    error: str | None = None


_problem_decoder = msgspec.json.Decoder(_ProblemWire)


def problem_text(response: httpx.Response, *, error_field: bool = True) -> str:
    """Why the service refused, in its words: the JSON ``message`` (or ``error`` when
    ``error_field``), else a plain-text body; ``""`` when it said nothing. Whitespace is
    collapsed, phone numbers masked (services echo what they were sent), the length bounded."""
    try:
        wire = _problem_decoder.decode(response.content)
    except msgspec.DecodeError:
        wire = _ProblemWire()
    text = wire.message or (wire.error if error_field else None) or ""
    if not text and response.headers.get("content-type", "").startswith("text/plain"):
        text = response.text
    return mask_phones(" ".join(text.split()))[:TEXT_LIMIT]


class JsonHttpService:
    """Calls one service at ``base_url``; what may pass (5xx, 408, 429, timeouts) is asked
    again a bounded number of times with the same request, so each call must be safe to repeat
    (GETs, or POSTs that carry an idempotency key).

    ``client`` is owned by the caller (one client per outbound service); authentication
    headers, if the service wants any, belong on it.
    """

    #: The name used in log lines and errors, and the defaults of each service.
    service = "service"
    timeout = 10.0
    attempts = 3
    backoff = 0.5
    max_backoff = 4.0

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        timeout: float | None = None,
        attempts: int | None = None,
        backoff: float | None = None,
        max_backoff: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._timeout = self.timeout if timeout is None else timeout
        self._retry = RetryPolicy(
            self.attempts if attempts is None else attempts,
            self.backoff if backoff is None else backoff,
            self.max_backoff if max_backoff is None else max_backoff,
            sleep,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str = "",
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The first answer that is not transient; ``UpstreamUnavailable`` if none came."""
        url = self._base + path
        return await with_retries(
            lambda: self._client.request(
                method,
                url,
                params=params,
                content=content,
                headers=headers,
                timeout=self._timeout,
            ),
            self._retry,
            f"{self.service} ({what})" if what else self.service,
        )
