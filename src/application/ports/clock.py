"""Time and fresh ids come through here, so tests can fix them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Now, timezone-aware UTC."""


class IdGenerator(Protocol):
    def new_ref(self) -> str:
        """A fresh, unguessable id (our outgoing message reference)."""
