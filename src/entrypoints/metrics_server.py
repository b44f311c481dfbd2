"""The processes that serve no HTTP app (``worker``, ``pump``): their Prometheus metrics on a
port of their own, an event loop, and SIGTERM or SIGINT asking them to stop."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
import uvloop

_log = structlog.get_logger("metrics")


class MetricsPortError(Exception):
    """A port set explicitly that cannot be served; ``str()`` is the configuration error."""


def start_metrics(
    process: str, port: int | None, *, required: bool, variable: str
) -> Callable[[], None]:
    """Serves ``/metrics`` on ``port`` (``None``: nowhere); returns what stops it.

    A port set explicitly (``required``) that cannot be served raises ``MetricsPortError``;
    the default one, when taken (a second process of the kind on the host), only costs this
    process its metrics (a warning)."""
    if port is None:
        return lambda: None
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(port)
    except OSError as exc:
        problem = f"{port} cannot be served: {exc.strerror or exc}"
        if required:
            raise MetricsPortError(f"configuration error: {variable} {problem}") from None
        _log.warning(
            f"{process} metrics not served: the default port is taken (another {process} on "
            f"this host?); set {variable} per {process}",
            problem=problem,
        )
        return lambda: None
    return server.shutdown


def run_with_metrics(
    process: str,
    port: int | None,
    main: Callable[[], Coroutine[Any, Any, int]],
    *,
    required: bool,
    variable: str,
    label: str,
) -> int:
    """``main()`` in an event loop of its own, with the metrics served meanwhile; 2 (after
    one line on stderr) when the port set cannot be served. ``label`` is logged once it can.

    The loop is libuv's (uvloop), as `serve`'s under uvicorn: these processes spend their time
    on socket reads and writes (MariaDB, the broker, Redis, Meta), which cost less CPU there
    than on asyncio's own loop (BENCHMARKS.md, "Stop 14: single POSTs")."""
    try:
        stop_metrics = start_metrics(process, port, required=required, variable=variable)
    except MetricsPortError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    structlog.get_logger(process).info(label)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main())
    finally:
        stop_metrics()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM (what Kubernetes sends) or SIGINT, in the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
