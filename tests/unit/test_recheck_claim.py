"""The unknown sends' recheck's claim past sends whose conversation cannot be read
(docs/outages.md, "A row with a zero date"), on a stand-in for the database."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from application.ports.repositories import UnitOfWork
from application.use_cases.recheck_unknown_sends import _claim
from domain.errors import UnreadableRecord
from tests.support.factories import T0

BAD = 7  # the conversation that cannot be read


class _Messages:
    def __init__(self, due: list[SimpleNamespace]) -> None:
        self._due = due  # oldest first

    async def claim_unknown(
        self,
        older_than: datetime,
        limit: int,
        unreadable: list[UnreadableRecord],
        leave_out: list[int] | None = None,
    ) -> list[Any]:
        assert limit > 0
        return [m for m in self._due if m.id not in (leave_out or [])][:limit]


class _Conversations:
    async def get_many(self, ids: Collection[int]) -> dict[int, Any]:
        if BAD in ids:
            raise UnreadableRecord("created_at holds a zero date")
        return {i: SimpleNamespace(id=i) for i in ids}

    async def get(self, conversation_id: int) -> Any:
        if conversation_id == BAD:
            raise UnreadableRecord("created_at holds a zero date")
        return SimpleNamespace(id=conversation_id)


async def test_a_conversation_met_twice_in_a_pass_is_told_once() -> None:
    # Two sends of the one conversation that cannot be read, taken by two claims of a pass:
    # one row, told (logged, counted) once a pass like any other.
    sends = ((1, BAD), (2, 3), (3, BAD), (4, 5))  # (id, conversation), oldest first
    due = [SimpleNamespace(id=i, conversation_id=c) for i, c in sends]
    uow = cast(UnitOfWork, SimpleNamespace(messages=_Messages(due), conversations=_Conversations()))
    unreadable: list[UnreadableRecord] = []

    taken, _ = await _claim(uow, T0, 2, unreadable)

    assert [m.id for m in taken] == [2, 4]
    assert [str(exc).split(":")[0] for exc in unreadable] == [f"wa_conversations row {BAD}"]
