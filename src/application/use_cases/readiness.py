"""Is the service ready to take traffic: every dependency answers within a second."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from application.ports.health import DependencyProbe


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str]  # dependency -> "ok" or what failed


class CheckReadiness:
    def __init__(self, probes: Sequence[DependencyProbe], timeout: float = 1.0) -> None:
        self._probes = probes
        self._timeout = timeout

    async def __call__(self) -> Readiness:
        results = await asyncio.gather(*(self._probe(p) for p in self._probes))
        checks = dict(results)
        return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)

    async def _probe(self, probe: DependencyProbe) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe.check(), self._timeout)
        except TimeoutError:
            return probe.name, "timeout"
        except Exception as exc:  # a probe reports, it never raises
            return probe.name, type(exc).__name__
        return probe.name, "ok"
