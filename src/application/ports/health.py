"""Probes of what the service depends on, for the readiness check."""

from __future__ import annotations

from typing import Protocol


class DependencyNotReady(Exception):
    """A probe's reason, reported as it is (e.g. the schema needs a migration)."""


class DependencyProbe(Protocol):
    name: str
    #: False: the service works without it (slower, or less shared); its failure degrades.
    required: bool

    async def check(self) -> None:
        """Returns when the dependency answers; raises otherwise."""
