"""Can this process do its work: what it needs answers within a second.

Not ready (503) only when a required dependency fails (the database, its schema); an optional
one failing (Redis: the cache and the shared limiter have fallbacks) leaves the process ready
but degraded, logged once when it starts and once when it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from application.ports.health import DependencyNotReady, DependencyProbe

_log = structlog.get_logger("readiness")


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str]  # dependency -> "ok" or what failed
    degraded: list[str]  # optional dependencies that failed: the service works without them


class CheckReadiness:
    """One per process: it remembers what was failing to log only the changes."""

    def __init__(self, probes: Sequence[DependencyProbe], timeout: float = 1.0) -> None:
        self._probes = probes
        self._timeout = timeout
        self._failing: set[str] = set()

    async def __call__(self) -> Readiness:
        results = await asyncio.gather(*(self._probe(p) for p in self._probes))
        checks = dict(results)
        failing = {name for name, result in checks.items() if result != "ok"}
        required = {p.name for p in self._probes if p.required}
        self._log_changes(failing, required, checks)
        return Readiness(
            ready=not failing & required,
            checks=checks,
            degraded=sorted(failing - required),
        )

    async def _probe(self, probe: DependencyProbe) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe.check(), self._timeout)
        except TimeoutError:
            return probe.name, "timeout"
        except DependencyNotReady as exc:
            return probe.name, str(exc)
        except Exception as exc:  # a probe reports, it never raises
            return probe.name, type(exc).__name__
        return probe.name, "ok"

    def _log_changes(self, failing: set[str], required: set[str], checks: dict[str, str]) -> None:
        for name in sorted(failing - self._failing):
            if name in required:
                _log.error("not ready", dependency=name, problem=checks[name])
            else:
                _log.warning("degraded: working without it", dependency=name, problem=checks[name])
        for name in sorted(self._failing - failing):
            _log.info("dependency answers again", dependency=name)
        self._failing = failing
