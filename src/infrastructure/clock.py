"""The system clock and id generator (tests use fixed ones)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class UuidRefs:
    def new_ref(self) -> str:
        return uuid.uuid4().hex
