"""Conversations in ``wa_conversations``."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, insert, or_, select, update

from application.ports.repositories import ConversationQuery, NotedMove
from domain.conversation import Conversation, ConversationState
from domain.outcomes import NO_ANSWER
from domain.reasons import FdrReason
from infrastructure.db.bulk import select_in
from infrastructure.db.repositories._base import SqlRepository, with_id
from infrastructure.db.tables import conversations as t
from infrastructure.db.tables import ndr_actions
from infrastructure.db.tables import shopper_languages as _lang
from infrastructure.db.types import as_aware_utc, stored_times

# Built once: executed with the row as parameters (see SqlRepository._insert_unique).
_INSERT = insert(t)
# The new ids with the unique key (``uq_conversation_attempt``) they are matched by.
_ATTEMPT = ("shipment_id", "shipment_status_log_id")
_INSERT_MANY = insert(t).returning(t.c.id, *(t.c[c] for c in _ATTEMPT))
_UPDATE = update(t).where(t.c.id == bindparam("conversation_id"))
# The answers' hot path: built once, executed with parameters.
_GET = select(t).where(t.c.id == bindparam("conversation_id"))
_MOVE = (
    update(t)
    .where(
        t.c.id == bindparam("conversation_id"),
        t.c.state.in_(bindparam("allowed", expanding=True)),
    )
    .values(state=bindparam("new_state"), updated_at=bindparam("new_updated_at"))
)
# The decider's reads, built once like the statements around them.
_LATEST_FOR_SHIPMENT = (
    select(t)
    .where(t.c.shipment_id == bindparam("shipment_id"))
    # The newest attempt, not the newest row: an older attempt may arrive late.
    .order_by(t.c.shipment_status_log_id.desc(), t.c.id.desc())
    .limit(1)
)
_SHOPPER_LANGUAGE = select(_lang.c.language).where(_lang.c.customer_phone == bindparam("phone"))
# An answer's move with the shopper's message noted (``_NOTE_CUSTOMER_MESSAGE``), in one
# statement (docs/webhooks.md, "Answers side by side").
_MOVE_NOTED = _MOVE.values(
    last_customer_message_at=case(
        (
            or_(
                t.c.last_customer_message_at.is_(None),
                t.c.last_customer_message_at < bindparam("at"),
            ),
            bindparam("at"),
        ),
        else_=t.c.last_customer_message_at,
    )
)
_NOTE_CUSTOMER_MESSAGE = (
    update(t)
    .where(
        t.c.id == bindparam("conversation_id"),
        or_(t.c.last_customer_message_at.is_(None), t.c.last_customer_message_at < bindparam("at")),
    )
    .values(last_customer_message_at=bindparam("at"))
)


@functools.lru_cache(maxsize=16)
def _set_roots(rows: int) -> Any:
    """``set_root`` of ``rows`` conversations in one ``UPDATE`` (each only if it has no root
    yet), the roots by id; built once per size, the values as parameters (``rt_id_<row>``,
    ``rt_root_<row>``), so that its compiled form is cached (a batch's outcomes write one)."""
    ids = [bindparam(f"rt_id_{i}", type_=t.c.id.type) for i in range(rows)]
    roots = [bindparam(f"rt_root_{i}", type_=t.c.root_message_id.type) for i in range(rows)]
    return (
        update(t)
        .where(t.c.id.in_(ids), t.c.root_message_id.is_(None))
        .values(root_message_id=case(*zip(ids, roots, strict=True), value=t.c.id))
    )


@functools.lru_cache(maxsize=16)
def _move_noted_many(rows: int) -> Any:
    """``_MOVE_NOTED`` of ``rows`` conversations in one ``UPDATE``, each row under its own
    condition (its id and the state it was read in), its new state and noted time by id;
    built once per size, the values as parameters (``mv_<name>_<row>``), so that its
    compiled form is cached (an answer's group writes one: docs/webhooks.md)."""
    ids = [bindparam(f"mv_id_{i}", type_=t.c.id.type) for i in range(rows)]
    ats = [bindparam(f"mv_at_{i}", type_=t.c.last_customer_message_at.type) for i in range(rows)]
    noted = t.c.last_customer_message_at
    return (
        update(t)
        .where(
            or_(
                *(
                    and_(t.c.id == ids[i], t.c.state == bindparam(f"mv_before_{i}"))
                    for i in range(rows)
                )
            )
        )
        .values(
            state=case(*((ids[i], bindparam(f"mv_state_{i}")) for i in range(rows)), value=t.c.id),
            updated_at=bindparam("mv_updated_at", type_=t.c.updated_at.type),
            last_customer_message_at=case(
                *(
                    (and_(t.c.id == ids[i], or_(noted.is_(None), noted < ats[i])), ats[i])
                    for i in range(rows)
                ),
                else_=noted,
            ),
        )
    )


def _values(c: Conversation) -> dict[str, Any]:
    return {
        "account_id": c.account_id,
        "shipment_id": c.shipment_id,
        "external_shipment_id": c.external_shipment_id,
        "shipment_status_log_id": c.status_log_id,
        "order_number": c.order_number,
        "tracking_id": c.tracking_id,
        "courier": c.courier,
        "tracking_domain": c.tracking_domain,
        "reason": c.reason.value,
        "customer_phone": c.customer_phone,
        "customer_name": c.customer_name,
        "brand": c.brand,
        "whatsappSenderConnectionId": c.sender_connection_id,
        "wa_template_id": c.template_id,
        "state": c.state.value,
        "root_message_id": c.root_message_id,
        "last_customer_message_at": c.last_customer_message_at,
        "nudged_at": c.nudged_at,
        "customer_user_id": c.customer_user_id,
        "reply_ref": c.reply_ref,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


_COLUMNS = tuple(t.c)


_REASON_OF = {r.value: r for r in FdrReason}
_STATE_OF = {s.value: s for s in ConversationState}


def _from_driver(raw: Sequence[Any]) -> Conversation:
    """A row of every column (``_COLUMNS``, the table's order; the contract tests read every
    column back) as the driver returns it (times naive UTC, enums as their values): what
    ``conversation_from_row`` makes of SQLAlchemy's row, without the dict (the status pass
    reads a conversation per message: BENCHMARKS.md, "Stop 16: statuses")."""
    (
        id_,
        account_id,
        shipment_id,
        external_shipment_id,
        status_log_id,
        order_number,
        tracking_id,
        courier,
        tracking_domain,
        reason,
        customer_phone,
        customer_name,
        brand,
        sender_connection_id,
        template_id,
        state,
        root_message_id,
        last_customer_message_at,
        nudged_at,
        customer_user_id,
        reply_ref,
        created_at,
        updated_at,
    ) = raw
    try:  # inline: a call per row costs the status pass (stored_times says what is wrong)
        created, updated = created_at.replace(tzinfo=UTC), updated_at.replace(tzinfo=UTC)
    except (AttributeError, TypeError):
        created, updated = stored_times("wa_conversations", id_, created_at, updated_at)
    return Conversation(
        id=id_,
        account_id=account_id,
        shipment_id=shipment_id,
        external_shipment_id=external_shipment_id,
        status_log_id=status_log_id,
        order_number=order_number,
        tracking_id=tracking_id,
        courier=courier,
        tracking_domain=tracking_domain,
        reason=_REASON_OF.get(reason) or FdrReason(reason),
        customer_phone=customer_phone,
        customer_name=customer_name,
        brand=brand,
        sender_connection_id=sender_connection_id,
        template_id=template_id,
        state=_STATE_OF.get(state) or ConversationState(state),
        root_message_id=root_message_id,
        last_customer_message_at=as_aware_utc(last_customer_message_at),
        nudged_at=as_aware_utc(nudged_at),
        customer_user_id=customer_user_id,
        reply_ref=reply_ref,
        created_at=created,
        updated_at=updated,
    )


def conversation_from_row(row: Mapping[Any, Any]) -> Conversation:
    return Conversation(
        id=row["id"],
        account_id=row["account_id"],
        shipment_id=row["shipment_id"],
        external_shipment_id=row["external_shipment_id"],
        status_log_id=row["shipment_status_log_id"],
        order_number=row["order_number"],
        tracking_id=row["tracking_id"],
        courier=row["courier"],
        tracking_domain=row["tracking_domain"],
        reason=FdrReason(row["reason"]),
        customer_phone=row["customer_phone"],
        customer_name=row["customer_name"],
        brand=row["brand"],
        sender_connection_id=row["whatsappSenderConnectionId"],
        template_id=row["wa_template_id"],
        state=ConversationState(row["state"]),
        root_message_id=row["root_message_id"],
        last_customer_message_at=row["last_customer_message_at"],
        nudged_at=row["nudged_at"],
        customer_user_id=row["customer_user_id"],
        reply_ref=row["reply_ref"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlConversationRepository(SqlRepository):
    async def add(self, conversation: Conversation) -> Conversation | None:
        new_id = await self._insert_unique(_INSERT, _values(conversation))
        return None if new_id is None else dataclasses.replace(conversation, id=new_id)

    async def add_many(self, conversations: Sequence[Conversation]) -> list[Conversation | None]:
        # One that exists already (or a single row): one by one.
        return await self._add_many(
            conversations, _INSERT_MANY, _values, _ATTEMPT, self.add, with_id
        )

    async def get(self, conversation_id: int) -> Conversation | None:
        row = (await self._conn.execute(_GET, {"conversation_id": conversation_id})).mappings()
        found = row.first()
        return None if found is None else conversation_from_row(found)

    async def get_by_attempt(self, shipment_id: int, status_log_id: int) -> Conversation | None:
        return await self._one(
            select(t).where(
                t.c.shipment_id == shipment_id, t.c.shipment_status_log_id == status_log_id
            )
        )

    async def latest_for_shipment(self, shipment_id: int) -> Conversation | None:
        return await self._one(_LATEST_FOR_SHIPMENT, {"shipment_id": shipment_id})

    async def for_shipments(self, shipment_ids: Collection[int]) -> list[Conversation]:
        if not shipment_ids:
            return []
        rows = await self._conn.execute(select(t).where(t.c.shipment_id.in_(sorted(shipment_ids))))
        return [conversation_from_row(r) for r in rows.mappings()]

    async def latest_for_shipments(self, shipment_ids: Collection[int]) -> dict[int, Conversation]:
        latest: dict[int, Conversation] = {}
        for found in await self.for_shipments(shipment_ids):
            held = latest.get(found.shipment_id)
            # As ``_LATEST_FOR_SHIPMENT``: the newest attempt, then the newest row.
            if held is None or (found.status_log_id, found.id or 0) > (
                held.status_log_id,
                held.id or 0,
            ):
                latest[found.shipment_id] = found
        return latest

    async def latest_for_shopper(
        self, customer_phone: str, user_id: str | None, connection_id: int
    ) -> Conversation | None:
        # One indexed query per way of naming the shopper; the newer conversation wins.
        found = [
            await self._one(
                select(t)
                .where(column == value, t.c.whatsappSenderConnectionId == connection_id)
                .order_by(t.c.id.desc())
                .limit(1)
            )
            for column, value in (
                (t.c.customer_phone, customer_phone),
                (t.c.customer_user_id, user_id),
            )
            if value
        ]
        return max((c for c in found if c is not None), key=lambda c: c.id or 0, default=None)

    async def remember_user_id(self, conversation_id: int, user_id: str) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == conversation_id, t.c.customer_user_id.is_(None))
            .values(customer_user_id=user_id)
        )

    async def count_started(self, account_id: int, since: datetime) -> int:
        found = await self._conn.execute(
            select(func.count()).where(t.c.account_id == account_id, t.c.created_at >= since)
        )
        return int(found.scalar_one())

    async def shopper_language(self, customer_phone: str) -> str | None:
        row = (await self._conn.execute(_SHOPPER_LANGUAGE, {"phone": customer_phone})).first()
        return None if row is None else str(row[0])

    async def shopper_languages(self, customer_phones: Collection[str]) -> dict[str, str]:
        if not customer_phones:
            return {}
        rows = await self._conn.execute(
            select(_lang.c.customer_phone, _lang.c.language).where(
                _lang.c.customer_phone.in_(sorted(customer_phones))
            )
        )
        return {str(r.customer_phone): str(r.language) for r in rows}

    async def remember_language(self, customer_phone: str, language: str, now: datetime) -> None:
        row = {"language": language, "updated_at": now}
        stmt = _lang.insert().values(customer_phone=customer_phone, **row)
        if await self._execute_unique(stmt) is None:
            await self._conn.execute(
                update(_lang).where(_lang.c.customer_phone == customer_phone).values(**row)
            )

    async def get_many(self, conversation_ids: Collection[int]) -> dict[int, Conversation]:
        if not conversation_ids:
            return {}
        # MariaDB (every status pass): prepared, read as the driver returns the rows.
        raw = await select_in(self._conn, _COLUMNS, t.c.id, list(conversation_ids))
        if raw is not None:
            return {r[0]: _from_driver(r) for r in raw}
        rows = await self._conn.execute(select(t).where(t.c.id.in_(list(conversation_ids))))
        return {r["id"]: conversation_from_row(r) for r in rows.mappings()}

    async def update(self, conversation: Conversation) -> None:
        assert conversation.id is not None
        await self._conn.execute(
            _UPDATE, {"conversation_id": conversation.id, **_values(conversation)}
        )

    async def move(
        self,
        conversation_id: int,
        state: ConversationState,
        allowed_from: Collection[ConversationState],
        updated_at: datetime,
        noted_at: datetime | None = None,
    ) -> bool:
        params = {
            "conversation_id": conversation_id,
            "allowed": sorted(s.value for s in allowed_from),
            "new_state": state.value,
            "new_updated_at": updated_at,
        }
        if noted_at is None:
            result = await self._conn.execute(_MOVE, params)
        else:
            result = await self._conn.execute(_MOVE_NOTED, {**params, "at": noted_at})
        return int(result.rowcount) == 1

    async def set_root(self, conversation_id: int, root_message_id: str) -> bool:
        result = await self._conn.execute(
            update(t)
            .where(t.c.id == conversation_id, t.c.root_message_id.is_(None))
            .values(root_message_id=root_message_id)
        )
        return int(result.rowcount) == 1

    async def set_roots(self, roots: Mapping[int, str]) -> None:
        if len(roots) < 2:
            for conversation_id, root in roots.items():
                await self.set_root(conversation_id, root)
            return
        # ``_set_roots`` of a power of two rows, the last root repeated (the same row, the
        # same value): a statement built once per size, its compiled form cached.
        pairs = sorted(roots.items())
        rows = 1 << (len(pairs) - 1).bit_length()
        pairs += [pairs[-1]] * (rows - len(pairs))
        params: dict[str, Any] = {}
        for i, (conversation_id, root) in enumerate(pairs):
            params[f"rt_id_{i}"] = conversation_id
            params[f"rt_root_{i}"] = root
        await self._conn.execute(_set_roots(rows), params)

    async def move_many(
        self,
        conversation_ids: Collection[int],
        state: ConversationState,
        allowed_from: Collection[ConversationState],
        updated_at: datetime,
    ) -> int:
        if not conversation_ids:
            return 0
        result = await self._conn.execute(
            update(t)
            .where(
                t.c.id.in_(sorted(conversation_ids)),
                t.c.state.in_(sorted(s.value for s in allowed_from)),
            )
            .values(state=state.value, updated_at=updated_at)
        )
        return int(result.rowcount)

    async def move_noted_many(self, moves: Sequence[NotedMove], updated_at: datetime) -> int:
        if not moves:
            return 0
        # ``_MOVE_NOTED`` of each, in one statement built once per size (a power of two, the
        # last move repeated: the same row under the same condition, counted once).
        rows = 1 << max(len(moves) - 1, 1).bit_length()
        padded = [*moves, *[moves[-1]] * (rows - len(moves))]
        params: dict[str, Any] = {"mv_updated_at": updated_at}
        for i, m in enumerate(padded):
            params[f"mv_id_{i}"] = m.conversation_id
            params[f"mv_before_{i}"] = m.before.value
            params[f"mv_state_{i}"] = m.state.value
            params[f"mv_at_{i}"] = m.noted_at
        result = await self._conn.execute(_move_noted_many(rows), params)
        return int(result.rowcount)

    async def note_customer_message(self, conversation_id: int, at: datetime) -> None:
        await self._conn.execute(
            _NOTE_CUSTOMER_MESSAGE, {"conversation_id": conversation_id, "at": at}
        )

    async def mark_nudged(self, conversation_id: int, at: datetime) -> bool:
        result = await self._conn.execute(
            update(t)
            .where(t.c.id == conversation_id, t.c.nudged_at.is_(None))
            .values(nudged_at=at, updated_at=at)
        )
        return int(result.rowcount) == 1

    async def change_phone(self, conversation_id: int, phone: str, updated_at: datetime) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == conversation_id)
            .values(customer_phone=phone, updated_at=updated_at)
        )

    async def search(self, query: ConversationQuery) -> list[Conversation]:
        stmt = select(t).where(t.c.account_id == query.account_id)
        if query.shipment_id is not None:
            stmt = stmt.where(t.c.shipment_id == query.shipment_id)
        if query.reason is not None:
            stmt = stmt.where(t.c.reason == query.reason.value)
        if query.state is not None:
            stmt = stmt.where(t.c.state == query.state.value)
        if query.answer is not None:
            stmt = stmt.where(_answered(query.answer))
        if query.created_from is not None:
            stmt = stmt.where(t.c.created_at >= query.created_from)
        if query.created_to is not None:
            stmt = stmt.where(t.c.created_at < query.created_to)
        if query.before_id is not None:
            stmt = stmt.where(t.c.id < query.before_id)
        stmt = stmt.order_by(t.c.id.desc()).limit(query.limit)
        rows = (await self._conn.execute(stmt)).mappings().all()
        return [conversation_from_row(r) for r in rows]

    async def _one(self, stmt: Any, params: dict[str, Any] | None = None) -> Conversation | None:
        row = (await self._conn.execute(stmt, params)).mappings().first()
        return None if row is None else conversation_from_row(row)


def _answered(answer: str) -> Any:
    """The conversation has an NDR action of that kind; ``no_answer``: it has none."""
    a = ndr_actions
    if answer == NO_ANSWER:
        return ~exists().where(a.c.conversation_id == t.c.id)
    return exists().where(a.c.conversation_id == t.c.id, a.c.kind == answer)
