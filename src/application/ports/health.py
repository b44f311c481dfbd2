"""Probes of what the service depends on, for the readiness check."""

from __future__ import annotations

from typing import Protocol


class DependencyProbe(Protocol):
    name: str

    async def check(self) -> None:
        """Returns when the dependency answers; raises otherwise."""
