"""Prometheus metrics of a process that serves no HTTP app (``worker``, ``pump``)."""

from __future__ import annotations

from collections.abc import Callable

import structlog

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
