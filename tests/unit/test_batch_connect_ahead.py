"""A batch's connection taken ahead (``connect_ahead``) is given back on every path: also when
the step it runs beside (booking the slots, sending) fails before the connection comes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from application.use_cases.notify.batch import BatchNotify
from application.use_cases.notify.batch_plan import Planned


class _SlowAheadUow:
    """``connect_ahead`` takes its connection a moment later than the failing step fails."""

    def __init__(self) -> None:
        self.held = 0

    async def connect_ahead(self) -> None:
        await asyncio.sleep(0.05)
        self.held += 1

    async def release_ahead(self) -> None:
        self.held = 0


class _Plans:
    async def skip(self, planned: Planned, results: dict[int, Any]) -> list[tuple[int, Any]]:
        return [(0, object())]

    async def screen(self, fdr: Any, index: int, plan: Any, results: dict[int, Any]) -> Any:
        return object()


class _Sends:
    async def book(self, starts: list[Any]) -> None:
        raise RuntimeError("the limiter is down")


async def test_a_connection_taken_ahead_beside_a_step_that_fails_is_given_back() -> None:
    uow = _SlowAheadUow()
    batch = BatchNotify(uow, _Plans(), None, _Sends(), None)  # type: ignore[arg-type]
    planned = Planned(fdrs=(object(),), later=[], unmessaged=set(), plans=[])  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="limiter"):
        await batch(planned.fdrs, planned)
    await asyncio.sleep(0.1)  # the connection taken ahead would have come by now

    assert uow.held == 0
