"""Graph API error answers read into domain errors: retry later, or give up on this message."""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from domain.errors import PermanentSendError, RetryableSendError, SendError
from domain.phone import mask

#: Codes Meta means as "not now" (docs/meta.md#errors); anything else is final for the message.
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131057, 133004})
#: Too many messages to one recipient: Meta asks for 4**X seconds between tries
#: (docs/meta.md#limits).
PAIR_RATE_LIMIT = 131056
#: ``error_title`` is a VARCHAR(255).
TITLE_MAX = 255

# Eight or more digits in a row may be a phone number (or a phone number id): keep the last four.
_LONG_NUMBER = re.compile(r"\+?\d{8,}")


class ErrorData(msgspec.Struct, frozen=True):
    details: str = ""


class GraphError(msgspec.Struct, frozen=True):
    code: int
    message: str = ""
    type: str = ""
    error_data: ErrorData | None = None
    fbtrace_id: str | None = None


class GraphErrorBody(msgspec.Struct, frozen=True):
    error: GraphError


_decoder = msgspec.json.Decoder(GraphErrorBody)


def parse_error(content: bytes) -> GraphError | None:
    """The ``error`` object of a Graph API answer, or None when the body is not one."""
    try:
        return _decoder.decode(content).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def classify(
    status_code: int, content: bytes, *, attempt: int = 0, secrets: Iterable[str] = ()
) -> SendError:
    """The domain error for a non-2xx answer to a send.

    ``attempt`` counts earlier failures of the same request (0 on the first), which sets the
    pair-rate-limit wait; ``secrets`` (the access token) are cut out of the title, since Meta
    quotes a malformed token back.
    """
    error = parse_error(content)
    if error is None:
        title = f"HTTP {status_code} from the Graph API without an error body"
        # A gateway or load balancer in front of Meta failed; the request may well work again.
        if status_code >= 500 or status_code == 429:
            return RetryableSendError(None, title)
        return PermanentSendError(None, title)
    title = error_title(error, secrets)
    if error.code == PAIR_RATE_LIMIT:
        return RetryableSendError(error.code, title, retry_after=4.0**attempt)
    if error.code in RETRYABLE_CODES:
        return RetryableSendError(error.code, title)
    return PermanentSendError(error.code, title)


def error_title(error: GraphError, secrets: Iterable[str] = ()) -> str:
    """What we keep of Meta's explanation: no secrets, no full numbers, at most 255 characters."""
    details = error.error_data.details if error.error_data else ""
    text = error.message or details or f"Graph API error {error.code}"
    return redact(text, secrets)[:TITLE_MAX]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _LONG_NUMBER.sub(lambda m: mask(m.group(0)), text)
