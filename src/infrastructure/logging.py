"""One logging setup for every process: structlog, key-value or JSON, phone numbers masked."""

from __future__ import annotations

import functools
import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

# Ten or more digits in a row (optionally after +) is treated as a phone number.
_PHONE = re.compile(r"\+?\d{6,}(\d{4})")
_SECRET_KEYS = ("token", "secret", "password", "authorization")


def mask_phones(text: str) -> str:
    return _PHONE.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(1), text)


@functools.lru_cache(maxsize=1024)
def _secret(key: str) -> bool:
    """Whether a field of this name is a secret; a line's field names are few and repeat (the
    worker writes one line per event: BENCHMARKS.md, "Stop 16: fan-out")."""
    return any(s in key.lower() for s in _SECRET_KEYS)


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # uvicorn's ANSI copy of the message
    for key, value in list(event.items()):
        if _secret(key):
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = mask_phones(value)
    return event


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            _redact,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _redact],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio", "alembic", "asyncmy"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


#: (message, kind) pairs a ``FailureLog`` keeps before it forgets those past their interval.
_MAX_KINDS = 1000


class FailureLog:
    """One line per message and kind of failure per ``interval`` seconds, with how many more.

    An outage makes every event fail the same way; a line (and a traceback) each would bury
    everything else. A kind is the exception's type with its cause's (``UpstreamUnavailable``
    from ``OperationalError``). Outages (``expected`` types) are logged without a traceback;
    anything else keeps it, on the first line of each interval.
    """

    def __init__(
        self,
        logger: Any,
        *,
        interval: float = 30.0,
        expected: tuple[type[BaseException], ...] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._expected = expected
        self._now = monotonic
        # (message, kind) -> (when its last line was written, failures since)
        self._kinds: dict[str, tuple[float, int]] = {}

    def failed(self, message: str, exc: BaseException, *, apart: str = "", **fields: Any) -> None:
        """``apart``: what else keeps lines apart (a row's name: one line per row)."""
        kind = failure_kind(exc)
        key = f"{message}|{kind}|{apart}"
        now = self._now()
        last, since = self._kinds.get(key, (None, 0))
        if last is not None and now - last < self._interval:
            self._kinds[key] = (last, since + 1)
            return
        # Rows kept apart are many: forget the stale ones, once this one's count is read.
        if len(self._kinds) >= _MAX_KINDS:
            self._kinds = {k: v for k, v in self._kinds.items() if now - v[0] < self._interval}
        self._kinds[key] = (now, 0)
        if not isinstance(exc, self._expected):
            fields["exc_info"] = exc
        # also_failed: failures of this kind since its previous line, not logged one by one
        self._log.warning(message, kind=kind, error=str(exc)[:300], also_failed=since, **fields)


def failure_kind(exc: BaseException) -> str:
    cause = exc.__cause__
    return f"{type(exc).__name__}({type(cause).__name__})" if cause else type(exc).__name__
