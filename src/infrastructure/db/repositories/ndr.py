"""NDR actions asked of the ESB (``wa_ndr_actions``): one per conversation and kind."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import RowMapping

from domain.ndr import NdrAction, NdrActionKind, NdrActionState
from infrastructure.db.repositories._base import SqlRepository, with_id
from infrastructure.db.tables import ndr_actions as t

# Read by every answer (the decider's): built once, executed with parameters.
_FOR_CONVERSATION = (
    select(t).where(t.c.conversation_id == bindparam("conversation_id")).order_by(t.c.id)
)
_INSERT = t.insert().returning(t.c.id, t.c.conversation_id, t.c.kind)
_FOR_CONVERSATIONS = (
    select(t).where(t.c.conversation_id.in_(bindparam("ids", expanding=True))).order_by(t.c.id)
)


def _values(a: NdrAction) -> dict[str, Any]:
    return {
        "conversation_id": a.conversation_id,
        "account_id": a.account_id,
        "shipment_id": a.shipment_id,
        "external_shipment_id": a.external_shipment_id,
        "kind": a.kind.value,
        "reply_message_id": a.reply_message_id,
        "delivery_date": a.delivery_date,
        "phone": a.phone,
        "address": a.address,
        "disputed_fake_attempt": a.disputed_fake_attempt,
        "state": a.state.value,
        "attempts": a.attempts,
        "result": a.result,
        "automatic": a.automatic,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    }


def _entity(row: RowMapping) -> NdrAction:
    return NdrAction(
        id=row["id"],
        conversation_id=row["conversation_id"],
        account_id=row["account_id"],
        shipment_id=row["shipment_id"],
        external_shipment_id=row["external_shipment_id"],
        kind=NdrActionKind(row["kind"]),
        reply_message_id=row["reply_message_id"],
        delivery_date=row["delivery_date"],
        phone=row["phone"],
        address=row["address"],
        disputed_fake_attempt=bool(row["disputed_fake_attempt"]),
        state=NdrActionState(row["state"]),
        attempts=row["attempts"],
        result=row["result"],
        automatic=bool(row["automatic"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlNdrActionRepository(SqlRepository):
    async def add(self, action: NdrAction) -> NdrAction | None:
        new_id = await self._insert_unique(t.insert().values(_values(action)))
        return None if new_id is None else dataclasses.replace(action, id=new_id)

    async def add_many(self, actions: Sequence[NdrAction]) -> list[NdrAction | None]:
        # A key that exists (or a single row): one by one, with ``add``'s None.
        return await self._add_many(
            actions, _INSERT, _values, ("conversation_id", "kind"), self.add, with_id
        )

    async def get_for(self, conversation_id: int, kind: NdrActionKind) -> NdrAction | None:
        row = (
            (
                await self._conn.execute(
                    select(t).where(t.c.conversation_id == conversation_id, t.c.kind == kind.value)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _entity(row)

    async def update(self, action: NdrAction) -> None:
        assert action.id is not None
        values = _values(action)
        values.pop("created_at")
        await self._conn.execute(update(t).where(t.c.id == action.id).values(values))

    async def for_conversations(
        self, conversation_ids: Collection[int]
    ) -> dict[int, list[NdrAction]]:
        found: dict[int, list[NdrAction]] = {i: [] for i in conversation_ids}
        if found:
            rows = await self._conn.execute(_FOR_CONVERSATIONS, {"ids": sorted(found)})
            for row in rows.mappings():
                found[row["conversation_id"]].append(_entity(row))
        return found

    async def for_conversation(self, conversation_id: int) -> list[NdrAction]:
        rows = await self._conn.execute(_FOR_CONVERSATION, {"conversation_id": conversation_id})
        return [_entity(r) for r in rows.mappings()]
