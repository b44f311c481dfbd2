"""Outgoing messages, delivery reports and customer replies (the seed's ``wa_*`` message tables)."""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Dialect,
    Select,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter, ColumnClause

from domain.conversation import Conversation
from domain.cost import Pricing
from domain.errors import Conflict, UnreadableRecord
from domain.messages import (
    REMINDER_REF_PREFIX,
    CustomerReply,
    DeliveryReport,
    MessageKind,
    OutgoingMessage,
    ReplyType,
)
from domain.status import MessageStatus
from infrastructure.db.bulk import binary_protocol, bulk_insert, naive_utc, select_in
from infrastructure.db.engine import MARIADB_DIALECTS, mariadb_prefix
from infrastructure.db.errors import is_duplicate_key
from infrastructure.db.repositories._base import SqlRepository, with_id
from infrastructure.db.repositories.conversations import conversation_from_row
from infrastructure.db.tables import conversations as _conv
from infrastructure.db.tables import customer_replies, dlr_messages, outgoing_messages
from infrastructure.db.types import WaId, as_aware_utc, stored_times

_out = outgoing_messages
# Built once: executed with the row as parameters (see SqlRepository._insert_unique).
_INSERT_OUTGOING = insert(_out)
_INSERT_OUTGOINGS = insert(_out).returning(_out.c.id, _out.c.client_ref)
_UPDATE_OUTGOING = update(_out).where(_out.c.id == bindparam("outgoing_id"))


def _outgoing_values(m: OutgoingMessage) -> dict[str, Any]:
    return {
        "conversation_id": m.conversation_id,
        "kind": m.kind.value,
        "client_ref": m.client_ref,
        "shipment_status_log_id": m.status_log_id,
        "whatsappSenderConnectionId": m.sender_connection_id,
        "customer_phone": m.customer_phone,
        "business_phone": m.business_phone,
        "wa_template_id": m.template_id,
        "root_message_id": m.root_message_id,
        "message_id": m.message_id,
        "payload": m.payload,
        "status": m.status.value,
        "error_code": m.error_code,
        "error_title": m.error_title,
        "external_updated_at": m.external_updated_at,
        "resent_at": m.resent_at,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


def _outgoing(row: RowMapping) -> OutgoingMessage:
    return OutgoingMessage(
        id=row["id"],
        conversation_id=row["conversation_id"],
        kind=MessageKind(row["kind"]),
        client_ref=row["client_ref"],
        status_log_id=row["shipment_status_log_id"],
        sender_connection_id=row["whatsappSenderConnectionId"],
        customer_phone=row["customer_phone"],
        business_phone=row["business_phone"],
        template_id=row["wa_template_id"],
        root_message_id=row["root_message_id"],
        message_id=row["message_id"],
        payload=row["payload"],
        status=MessageStatus(row["status"]),
        error_code=row["error_code"],
        error_title=row["error_title"],
        external_updated_at=row["external_updated_at"],
        resent_at=row["resent_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# The message an answer quotes (every answer's first read).
_BY_WAMID = select(_out).where(_out.c.message_id == bindparam("wamid"))
# The message an answer quotes with its conversation, in one read (docs/webhooks.md,
# "Binding"): the conversation's columns under a prefix.
_CONV = "conversation__"
_JOINED = select(_out, *(c.label(_CONV + c.key) for c in _conv.c)).outerjoin(
    _conv, _conv.c.id == _out.c.conversation_id
)
_WITH_CONVERSATION = _JOINED.where(_out.c.message_id == bindparam("wamid"))
_MANY_WITH_CONVERSATIONS = _JOINED.where(_out.c.message_id.in_(bindparam("wamids", expanding=True)))
_BY_WAMIDS = select(_out).where(_out.c.message_id.in_(bindparam("wamids", expanding=True)))
_BY_WAMIDS_LOCKED = _BY_WAMIDS.with_for_update()  # nothing on SQLite (one writer at a time)
_BY_WAMIDS_CLAIMED = _BY_WAMIDS.with_for_update(skip_locked=True)  # the sweep's (ditto)
# The status pass's read: the columns of a message but the request body, which no status
# reads or writes; in ``_outgoing_for_statuses``'s order.
_STATUS_COLUMNS = tuple(
    _out.c[name]
    for name in (
        "id",
        "conversation_id",
        "kind",
        "client_ref",
        "shipment_status_log_id",
        "whatsappSenderConnectionId",
        "customer_phone",
        "business_phone",
        "wa_template_id",
        "root_message_id",
        "message_id",
        "status",
        "error_code",
        "error_title",
        "external_updated_at",
        "resent_at",
        "created_at",
        "updated_at",
    )
)
_FOR_STATUSES = select(*_STATUS_COLUMNS).where(
    _out.c.message_id.in_(bindparam("wamids", expanding=True))
)
_STATUS_OF = {s.value: s for s in MessageStatus}
_KIND_OF = {k.value: k for k in MessageKind}
_UNKNOWN = MessageStatus.UNKNOWN.value
# The compare-and-set of a status (docs/sending.md), built once like the statements above.
_ADVANCE = (
    update(_out)
    .where(
        _out.c.id == bindparam("outgoing_id"),
        _out.c.status.in_(bindparam("allowed", expanding=True)),
    )
    .values(
        status=bindparam("new_status"),
        error_code=bindparam("new_error_code"),
        error_title=bindparam("new_error_title"),
        external_updated_at=bindparam("new_external_updated_at"),
        resent_at=bindparam("new_resent_at"),
        updated_at=bindparam("new_updated_at"),
    )
)
_WAMID: BindParameter[str] = bindparam("wamid")
_ADVANCE_WITH_WAMID = _ADVANCE.where(
    or_(_out.c.message_id.is_(None), _out.c.message_id == _WAMID)
).values(message_id=_WAMID)


#: ``advance_many``'s savepoint: set again (replaced) by each call, gone at the commit.
_ADVANCE_SAVEPOINT = "fdr_advance_many"


class _NotAll(Exception):
    """Some row of a multi-row compare-and-set did not match."""


#: Every (stored, new) pair of statuses a compare-and-set lets through, as "stored new".
_ALLOWED_MOVES: list[ColumnClause[str]] = [
    literal_column(f"'{old.value} {new.value}'")
    for new in MessageStatus
    for old in sorted(new.predecessors(), key=lambda s: s.value)
]
#: The columns ``advance`` writes, each set from the row's own value in ``_advance_many``.
_ADVANCED = (
    "status",
    "error_code",
    "error_title",
    "external_updated_at",
    "resent_at",
    "updated_at",
)
#: Rows per multi-row compare-and-set; a smaller batch is padded up to the next power of two
#: (its last row repeated), so only a handful of statement shapes is ever built and compiled.
_ADVANCE_ROWS = 128
_SPACE: ColumnClause[str] = literal_column("' '")


@functools.cache
def _advance_many_statement(rows: int) -> Any:
    """The compare-and-set of ``rows`` messages in one ``UPDATE``, built once per size with
    the values as parameters (``cas_<column>_<row>``, ``_advance_params``):
    each row under its own condition, exactly ``advance``'s (docs/sending.md)."""
    ids = [bindparam(f"cas_id_{i}", type_=_out.c.id.type) for i in range(rows)]

    def per_row(column: str) -> Any:
        kind = _out.c[column].type  # the column's own type (e.g. UTC datetimes)
        return case(
            *[(ids[i], bindparam(f"cas_{column}_{i}", type_=kind)) for i in range(rows)],
            value=_out.c.id,
        )

    values = {column: per_row(column) for column in _ADVANCED}
    # The row's wamid when given, else the stored one (which is then left as it is).
    # Cast to the column's type: on the binary protocol a NULL parameter carries the
    # connection's collation, which MariaDB cannot mix with ascii_bin (error 1267).
    wamid = func.coalesce(cast(per_row("message_id"), WaId), _out.c.message_id)
    return (
        update(_out)
        .where(
            _out.c.id.in_(ids),
            _out.c.status.concat(_SPACE).concat(values["status"]).in_(_ALLOWED_MOVES),
            # The stored wamid is unset, or the one given (when one is given).
            or_(_out.c.message_id.is_(None), _out.c.message_id == wamid),
        )
        .values({**values, "message_id": wamid})
    )


def _advance_params(messages: Sequence[OutgoingMessage], rows: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    padded = [*messages, *[messages[-1]] * (rows - len(messages))]
    for i, m in enumerate(padded):
        for column, value in zip(_CAS_FIELDS, _cas_row(m), strict=True):
            params[f"cas_{column}_{i}"] = value
    return params


#: A row's values in ``_cas_row``'s order, by the name its parameters carry.
_CAS_FIELDS = ("id", "message_id", *_ADVANCED)


def _cas_row(m: OutgoingMessage) -> tuple[Any, ...]:
    return (
        m.id,
        m.message_id,
        m.status.value,
        m.error_code,
        m.error_title,
        m.external_updated_at,
        m.resent_at,
        m.updated_at,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _CompiledAdvance:
    """``_advance_many_statement(rows)`` compiled for MariaDB: its SQL and its positional
    parameters taken from the rows' ``_cas_row`` values laid end to end (an id is named once
    per column's ``CASE``, so it is taken again)."""

    sql: str
    pick: Callable[[Sequence[Any]], tuple[Any, ...]]


@functools.lru_cache(maxsize=16)
def _compiled_advance(dialect: Dialect, rows: int) -> _CompiledAdvance:
    compiled = _advance_many_statement(rows).compile(dialect=dialect)
    assert compiled.positiontup is not None
    at = []
    for name in compiled.positiontup:
        column, row = name.removeprefix("cas_").rsplit("_", 1)
        at.append(int(row) * len(_CAS_FIELDS) + _CAS_FIELDS.index(column))
    return _CompiledAdvance(str(compiled), operator.itemgetter(*at))


def _advance_driver_params(
    compiled: _CompiledAdvance, messages: Sequence[OutgoingMessage], rows: int
) -> tuple[Any, ...]:
    """The parameters of ``compiled`` as the driver takes them, without SQLAlchemy binding
    each of them (about 2,000 for 128 rows: most of the compare-and-set's cost), picked in C
    from the rows' values (times converted once per instant)."""
    times: dict[datetime, datetime] = {}
    values: list[Any] = []
    for m in messages:
        row = _cas_row(m)
        values += row[:5]
        values += (naive_utc(times, row[5]), naive_utc(times, row[6]), naive_utc(times, row[7]))
    values += values[-len(_CAS_FIELDS) :] * (rows - len(messages))  # the last row again
    return compiled.pick(values)


def _advance_batches(
    messages: Sequence[OutgoingMessage],
) -> Iterator[tuple[Sequence[OutgoingMessage], int]]:
    """(messages, rows of the statement) for at most ``_ADVANCE_ROWS`` messages at a time."""
    ids = [m.id for m in messages]
    assert None not in ids
    assert len(set(ids)) == len(ids)
    for start in range(0, len(messages), _ADVANCE_ROWS):
        part = messages[start : start + _ADVANCE_ROWS]
        yield part, 1 << max(len(part) - 1, 1).bit_length()  # the next power of two, >= 2


def _outgoing_for_statuses(row: Sequence[Any]) -> OutgoingMessage:
    """A row of ``_STATUS_COLUMNS``, as the driver returns it (the column types' conversions
    done here: aware UTC times stay as they are) or SQLAlchemy; no request body (``payload``
    is "")."""
    (
        id_,
        conversation_id,
        kind,
        client_ref,
        status_log_id,
        sender_connection_id,
        customer_phone,
        business_phone,
        template_id,
        root_message_id,
        message_id,
        status,
        error_code,
        error_title,
        external_updated_at,
        resent_at,
        created_at,
        updated_at,
    ) = row
    try:  # inline: a call per row costs the status pass (stored_times says what is wrong)
        created, updated = created_at.replace(tzinfo=UTC), updated_at.replace(tzinfo=UTC)
    except (AttributeError, TypeError):
        created, updated = stored_times("wa_outgoing_messages", id_, created_at, updated_at)
    return OutgoingMessage(
        id=id_,
        conversation_id=conversation_id,
        kind=_KIND_OF.get(kind) or MessageKind(kind),
        client_ref=client_ref,
        status_log_id=status_log_id,
        sender_connection_id=sender_connection_id,
        customer_phone=customer_phone,
        business_phone=business_phone,
        template_id=template_id,
        root_message_id=root_message_id,
        message_id=message_id,
        status=_STATUS_OF.get(status) or MessageStatus(status),
        error_code=error_code,
        error_title=error_title,
        external_updated_at=as_aware_utc(external_updated_at),
        resent_at=as_aware_utc(resent_at),
        created_at=created,
        updated_at=updated,
    )


def _keyed_by_wamid(rows: Iterable[Sequence[Any]]) -> dict[str, OutgoingMessage]:
    found: dict[str, OutgoingMessage] = {}
    for message in map(_outgoing_for_statuses, rows):
        assert message.message_id is not None  # found by it
        found[message.message_id] = message
    return found


class SqlOutgoingMessageRepository(SqlRepository):
    async def add(self, message: OutgoingMessage) -> OutgoingMessage:
        new_id = await self._insert_unique(_INSERT_OUTGOING, _outgoing_values(message))
        if new_id is None:
            raise Conflict("an outgoing message with this client_ref or message_id exists")
        return dataclasses.replace(message, id=new_id)

    async def add_many(self, messages: Sequence[OutgoingMessage]) -> list[OutgoingMessage]:
        # A key that exists (or a single row): one by one, with ``add``'s Conflict.
        return await self._add_many(
            messages, _INSERT_OUTGOINGS, _outgoing_values, ("client_ref",), self.add, with_id
        )

    async def get(self, outgoing_id: int) -> OutgoingMessage | None:
        return await self._one(select(_out).where(_out.c.id == outgoing_id))

    async def get_by_message_id(self, message_id: str) -> OutgoingMessage | None:
        return await self._one(_BY_WAMID, {"wamid": message_id})

    async def get_with_conversation(
        self, message_id: str
    ) -> tuple[OutgoingMessage, Conversation | None] | None:
        row = (
            (await self._conn.execute(_WITH_CONVERSATION, {"wamid": message_id})).mappings().first()
        )
        return None if row is None else _with_conversation(row)

    async def get_many_with_conversations(
        self, message_ids: Collection[str]
    ) -> dict[str, tuple[OutgoingMessage, Conversation | None]]:
        if not message_ids:
            return {}
        rows = await self._conn.execute(_MANY_WITH_CONVERSATIONS, {"wamids": sorted(message_ids)})
        return {r["message_id"]: _with_conversation(r) for r in rows.mappings()}

    async def get_many_by_message_ids(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        return await self._by_wamids(_BY_WAMIDS, message_ids)

    async def lock_many_by_message_ids(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        return await self._by_wamids(_BY_WAMIDS_LOCKED, sorted(message_ids))

    async def claim_by_message_ids(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        return await self._by_wamids(_BY_WAMIDS_CLAIMED, sorted(message_ids))

    async def get_many_for_statuses(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        if not message_ids:
            return {}
        # MariaDB: prepared, the rows read as the driver returns them (no SQLAlchemy result
        # processing: most of the read's cost), like the compare-and-set below.
        rows = await select_in(self._conn, _STATUS_COLUMNS, _out.c.message_id, list(message_ids))
        if rows is None:
            rows = list(await self._conn.execute(_FOR_STATUSES, {"wamids": list(message_ids)}))
        return _keyed_by_wamid(rows)

    async def _by_wamids(
        self, statement: Select[Any], message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        if not message_ids:
            return {}
        rows = await self._conn.execute(statement, {"wamids": list(message_ids)})
        return {r["message_id"]: _outgoing(r) for r in rows.mappings()}

    async def get_by_client_ref(self, client_ref: str) -> OutgoingMessage | None:
        return await self._one(select(_out).where(_out.c.client_ref == client_ref))

    async def update(self, message: OutgoingMessage) -> None:
        assert message.id is not None
        await self._conn.execute(
            _UPDATE_OUTGOING, {"outgoing_id": message.id, **_outgoing_values(message)}
        )

    async def advance(self, message: OutgoingMessage) -> bool:
        assert message.id is not None
        params = {
            "outgoing_id": message.id,
            "allowed": sorted(s.value for s in message.status.predecessors()),
            "new_status": message.status.value,
            "new_error_code": message.error_code,
            "new_error_title": message.error_title,
            "new_external_updated_at": message.external_updated_at,
            "new_resent_at": message.resent_at,
            "new_updated_at": message.updated_at,
        }
        if message.message_id is None:
            result = await self._execute_unique(_ADVANCE, params)
        else:
            result = await self._execute_unique(
                _ADVANCE_WITH_WAMID, {**params, "wamid": message.message_id}
            )
        return result is not None and int(result.rowcount) == 1

    async def advance_many(self, messages: Sequence[OutgoingMessage]) -> set[int]:
        if len(messages) < 2:
            return {m.id for m in messages if m.id is not None and await self.advance(m)}
        # One UPDATE for all, each row under its own compare-and-set condition, after a
        # savepoint. Every row matched (the usual case: nobody else wrote these messages
        # meanwhile): done in one statement; the savepoint is left to the commit (no RELEASE:
        # one round trip less). Otherwise (or a wamid refused by the unique key) the work
        # since the savepoint is undone and each message is tried on its own, so the outcome
        # is exactly the one-by-one outcome.
        await self._conn.exec_driver_sql(f"SAVEPOINT {_ADVANCE_SAVEPOINT}")
        try:
            for part, rows in _advance_batches(messages):
                if int((await self._advance_rows(part, rows)).rowcount) != len(part):
                    raise _NotAll
            return {m.id for m in messages if m.id is not None}
        except _NotAll:
            pass
        except IntegrityError as exc:
            if not is_duplicate_key(exc):
                raise
        await self._conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_ADVANCE_SAVEPOINT}")
        return {m.id for m in messages if m.id is not None and await self.advance(m)}

    async def _advance_rows(self, part: Sequence[OutgoingMessage], rows: int) -> Any:
        """``part`` in one statement of ``rows`` rows; MariaDB's parameters bound here."""
        dialect = self._conn.dialect
        if dialect.name not in MARIADB_DIALECTS:
            return await self._conn.execute(
                _advance_many_statement(rows), _advance_params(part, rows)
            )
        compiled = _compiled_advance(dialect, rows)
        async with binary_protocol(self._conn):
            # SQLAlchemy's execution still (its errors, events and invalidation as usual).
            return await self._conn.exec_driver_sql(
                compiled.sql, _advance_driver_params(compiled, part, rows)
            )

    async def claim_unknown(
        self,
        older_than: datetime,
        limit: int,
        unreadable: list[UnreadableRecord],
        leave_out: list[int] | None = None,
    ) -> list[OutgoingMessage]:
        claimed: list[OutgoingMessage] = []
        # Rows this transaction holds already, left out: the caller's, and those that cannot
        # be read, claimed here and added to it.
        passed = leave_out if leave_out is not None else []
        before = len(passed)
        for status in (MessageStatus.UNKNOWN, MessageStatus.QUEUED):
            # One status per query, walked in (status, updated_at) index order: InnoDB locks
            # what it reads, so a query that sorted would lock every due row, not ``limit``.
            stmt = (
                select(_out)
                .where(
                    _out.c.status == status.value,
                    _out.c.updated_at < older_than,
                    _out.c.kind == MessageKind.TEMPLATE.value,
                    # The reminder is not looked at again (docs/scheduler.md).
                    _out.c.client_ref.not_like(f"{REMINDER_REF_PREFIX}%"),
                )
                .order_by(_out.c.status, _out.c.updated_at)
                # MariaDB: concurrent workers take disjoint rows; SQLite (one worker) has no
                # row locks and ignores it.
                .with_for_update(skip_locked=True)
            )
            if status is MessageStatus.QUEUED:  # only sends taken to be repeated
                stmt = stmt.where(_out.c.resent_at.is_not(None))
            while True:
                claim = stmt.limit(limit - len(claimed))
                if passed:  # ours, locked already: not skipped, so left out by id
                    taken = passed + [m.id for m in claimed if m.id is not None]
                    claim = claim.where(_out.c.id.not_in(taken))
                rows = await self._conn.execute(claim)
                try:
                    claimed += [_outgoing(r) for r in rows.mappings()]
                except UnreadableRecord:  # a zero date another writer left: that row alone
                    readable, spoiled = await self._readable(claim, unreadable)
                    claimed += readable
                    passed += spoiled  # in place: the caller's ``leave_out`` too
                    # Never changed, such a row stays the oldest and takes a place of every
                    # pass: claimed past them, so that the others are met (docs/outages.md).
                    # Bounded: once ``limit`` are passed over, the pass ends with what it has.
                    if spoiled and len(claimed) < limit and len(passed) - before <= limit:
                        continue
                break
            if len(claimed) >= limit or len(passed) - before > limit:
                break
        return claimed

    async def _readable(
        self, claim: Select[Any], unreadable: list[UnreadableRecord]
    ) -> tuple[list[OutgoingMessage], list[int]]:
        """The rows ``claim`` locked (locked already: read again by id), each read alone;
        one that cannot be read is left out, its error added to ``unreadable``: those read,
        and the ids of those that could not be."""
        readable: list[OutgoingMessage] = []
        spoiled: list[int] = []
        for row_id in (await self._conn.scalars(claim.with_only_columns(_out.c.id))).all():
            try:
                row = (await self._conn.execute(select(_out).where(_out.c.id == row_id))).mappings()
                readable.append(_outgoing(row.one()))
            except UnreadableRecord as exc:
                spoiled.append(row_id)
                unreadable.append(UnreadableRecord(f"wa_outgoing_messages row {row_id}: {exc}"))
        return readable, spoiled

    async def count_unknown(self, now: datetime, ages: Sequence[float]) -> list[int]:
        cutoffs = [now - timedelta(seconds=a) for a in ages]
        bands = [func.sum(case((_out.c.updated_at > c, 1), else_=0)) for c in cutoffs]
        row = (
            await self._conn.execute(
                select(func.count(), *bands).where(
                    _out.c.status == _UNKNOWN,
                    _out.c.kind == MessageKind.TEMPLATE.value,
                    _out.c.client_ref.not_like(f"{REMINDER_REF_PREFIX}%"),
                )
            )
        ).one()
        total, *younger = (int(v or 0) for v in row)
        # ``younger[i]`` counts those newer than bound i; the bands are their differences.
        counts = [younger[0]] if younger else []
        counts += [younger[i] - younger[i - 1] for i in range(1, len(younger))]
        counts.append(total - (younger[-1] if younger else 0))
        return counts

    async def for_conversation(self, conversation_id: int) -> list[OutgoingMessage]:
        rows = await self._conn.execute(
            select(_out).where(_out.c.conversation_id == conversation_id).order_by(_out.c.id)
        )
        return [_outgoing(r) for r in rows.mappings()]

    async def _one(self, stmt: Any, params: dict[str, Any] | None = None) -> OutgoingMessage | None:
        row = (await self._conn.execute(stmt, params)).mappings().first()
        return None if row is None else _outgoing(row)


#: A status's row in ``wa_dlr_messages``: every column but the id, in the table's order, which
#: ``_report_rows`` follows (the contract tests read every column back).
_REPORT_COLUMNS = tuple(c.key for c in dlr_messages.c if c.key != "id")
_NO_PRICING = (None, None, None, None, None)


def _report_rows(reports: Iterable[DeliveryReport], driver: bool = True) -> list[tuple[Any, ...]]:
    """The reports' rows, ``_REPORT_COLUMNS`` in order, one tuple each, no dict in between
    (BENCHMARKS.md, "Stop 16: statuses"); for the ``driver`` (times naive UTC), else for
    SQLAlchemy (times as they are)."""
    times: dict[datetime, datetime] = {}
    rows = []
    for r in reports:
        p = r.pricing
        created = naive_utc(times, r.created_at) if driver else r.created_at
        rows.append(
            (
                r.wa_outgoing_message_id,
                r.message_id,
                r.status.value,
                r.client_ref,
                r.error_code,
                r.error_title,
                r.payload,
                naive_utc(times, r.external_timestamp) if driver else r.external_timestamp,
                created,
                created,
                *(
                    _NO_PRICING
                    if p is None
                    else (p.billable, p.model, p.category, p.type, p.conversation_id)
                ),
            )
        )
    return rows


def report_from_row(row: RowMapping) -> DeliveryReport:
    return DeliveryReport(
        id=row["id"],
        wa_outgoing_message_id=row["wa_outgoing_message_id"],
        message_id=row["message_id"],
        status=MessageStatus(row["status"]),
        client_ref=row["client_ref"],
        error_code=row["error_code"],
        error_title=row["error_title"],
        payload=row["payload"],
        external_timestamp=row["external_timestamp"],
        created_at=row["created_at"],
        pricing=None
        if row["pricing_model"] is None
        else Pricing(
            billable=bool(row["pricing_billable"]),
            model=row["pricing_model"],
            category=row["pricing_category"] or "",
            type=row["pricing_type"] or "",
            conversation_id=row["pricing_conversation_id"],
        ),
    )


_dlr = dlr_messages
_INSERT_IGNORING_DUPLICATES = mariadb_prefix(insert(_dlr), "IGNORE").prefix_with(
    "OR IGNORE", dialect="sqlite"
)
# Every send's answer stored links the statuses that raced ahead of it: built once.
_LINK = (
    update(_dlr)
    .where(_dlr.c.message_id == bindparam("wamid"), _dlr.c.wa_outgoing_message_id.is_(None))
    .values(wa_outgoing_message_id=bindparam("outgoing_id"))
)
# Read by every batch of sends, and again after its commit (docs/sending.md): built once.
_UNLINKED = (
    select(_dlr.c.message_id)
    .where(
        _dlr.c.message_id.in_(bindparam("wamids", expanding=True)),
        _dlr.c.wa_outgoing_message_id.is_(None),
    )
    .distinct()
)
# The sweep's read (docs/sending.md): a range of ``ix_dlr_outgoing_created`` (unlinked, stored
# in the window), each row's message found by its unique wamid. MariaDB: in that order
# (STRAIGHT_JOIN), never by a scan of the messages, whatever the statistics say.
_UNLINKED_WITH_MESSAGE = (
    mariadb_prefix(select(_dlr.c.message_id), "STRAIGHT_JOIN")
    .join(_out, _out.c.message_id == _dlr.c.message_id)
    .where(
        _dlr.c.wa_outgoing_message_id.is_(None),
        _dlr.c.created_at >= bindparam("since"),
        _dlr.c.created_at < bindparam("until"),
    )
    .order_by(_dlr.c.created_at)  # the range's own order: no sort
    .limit(bindparam("limit"))
)
_REPORTED_COLUMNS = (_dlr.c.message_id, _dlr.c.status)
_REPORTED_STATUSES = select(*_REPORTED_COLUMNS).where(
    _dlr.c.message_id.in_(bindparam("wamids", expanding=True))
)


class SqlDeliveryReportRepository(SqlRepository):
    async def add_many(self, reports: Sequence[DeliveryReport]) -> list[DeliveryReport]:
        unique: dict[tuple[str, str], DeliveryReport] = {}
        for report in reports:
            # The status itself: a StrEnum is equal to its value, as the rows read give it.
            unique.setdefault((report.message_id, report.status), report)
        if not unique:
            return []
        # By wamid (a handful of statuses each), filtered here: cheaper to render and bind
        # than a (wamid, status) pair per report. MariaDB: prepared, the rows as the driver
        # returns them (``select_in``: no expanding IN rendered for each chunk).
        wamids = list({m for m, _ in unique})
        existing = await select_in(self._conn, _REPORTED_COLUMNS, _dlr.c.message_id, wamids)
        if existing is None:
            existing = list(await self._conn.execute(_REPORTED_STATUSES, {"wamids": wamids}))
        for message_id, status in existing:
            unique.pop((message_id, status), None)
        fresh = list(unique.values())
        if fresh:
            # A concurrent writer may have stored some since the select: the unique key wins.
            # On MariaDB one bulk insert, its values unescaped (infrastructure/db/bulk.py).
            rows = _report_rows(fresh)
            if not await bulk_insert(self._conn, _dlr, _REPORT_COLUMNS, rows, ignore=True):
                rows = _report_rows(fresh, driver=False)
                values = [dict(zip(_REPORT_COLUMNS, row, strict=True)) for row in rows]
                await self._conn.execute(_INSERT_IGNORING_DUPLICATES, values)
        return fresh

    async def for_message(self, message_id: str) -> list[DeliveryReport]:
        rows = await self._conn.execute(
            select(_dlr).where(_dlr.c.message_id == message_id).order_by(_dlr.c.id)
        )
        return [report_from_row(r) for r in rows.mappings()]

    async def link(self, message_id: str, outgoing_id: int) -> int:
        result = await self._conn.execute(_LINK, {"wamid": message_id, "outgoing_id": outgoing_id})
        return int(result.rowcount)

    async def unlinked(self, message_ids: Collection[str]) -> set[str]:
        if not message_ids:
            return set()
        rows = await self._conn.execute(_UNLINKED, {"wamids": sorted(message_ids)})
        return {str(r.message_id) for r in rows}

    async def unlinked_with_message(
        self, since: datetime, until: datetime, limit: int
    ) -> list[str]:
        params = {"since": since, "until": until, "limit": limit}
        rows = await self._conn.execute(_UNLINKED_WITH_MESSAGE, params)
        return list(dict.fromkeys(str(r.message_id) for r in rows))


_rep = customer_replies
# Built once, executed with the row as parameters (answers are a hot path).
_INSERT_REPLY = insert(_rep)
_INSERT_REPLIES = insert(_rep).returning(_rep.c.id, _rep.c.reply_message_id)
_UPDATE_REPLY = (
    update(_rep)
    .where(_rep.c.reply_message_id == bindparam("reply_id"))
    .values(
        wa_context_outgoing_message_id=bindparam("new_context"),
        wa_root_outgoing_message_id=bindparam("new_root"),
        decision=bindparam("new_decision"),
        handled_at=bindparam("new_handled_at"),
    )
)

_CLOSE_REPLIES = (
    update(_rep)
    .where(_rep.c.reply_message_id.in_(bindparam("reply_ids", expanding=True)))
    .values(handled_at=bindparam("handled_at"))
)


def _with_conversation(row: RowMapping) -> tuple[OutgoingMessage, Conversation | None]:
    if row[_CONV + "id"] is None:
        return _outgoing(row), None
    conversation = {c.key: row[_CONV + c.key] for c in _conv.c}
    return _outgoing(row), conversation_from_row(conversation)


def _reply_values(reply: CustomerReply) -> dict[str, Any]:
    return {
        "wa_context_outgoing_message_id": reply.context_message_id,
        "wa_root_outgoing_message_id": reply.root_id,
        "context_message_id": reply.context_message_id,
        "reply_message_id": reply.message_id,
        "customer_phone": reply.customer_phone,
        "customer_user_id": reply.customer_user_id,
        "customer_reply_type": reply.kind.value,
        "customer_reply_value": reply.value,
        "button_reply_id": reply.button_id,
        "payload": reply.payload,
        "external_updated_at": reply.sent_at,
        "decision": reply.decision,
        "handled_at": reply.handled_at,
        "created_at": reply.created_at,
        "updated_at": reply.created_at,
    }


def reply_from_row(row: RowMapping) -> CustomerReply:
    """The seed's columns, as the domain names them."""
    return CustomerReply(
        id=row["id"],
        message_id=row["reply_message_id"],
        customer_phone=row["customer_phone"],
        customer_user_id=row["customer_user_id"],
        context_message_id=row["wa_context_outgoing_message_id"],
        root_id=row["wa_root_outgoing_message_id"],
        kind=ReplyType(row["customer_reply_type"]),
        value=row["customer_reply_value"],
        button_id=row["button_reply_id"],
        payload=row["payload"],
        sent_at=row["external_updated_at"],
        created_at=row["created_at"],
        decision=row["decision"],
        handled_at=row["handled_at"],
    )


class SqlCustomerReplyRepository(SqlRepository):
    async def add(self, reply: CustomerReply) -> CustomerReply | None:
        new_id = await self._insert_unique(_INSERT_REPLY, _reply_values(reply))
        return None if new_id is None else dataclasses.replace(reply, id=new_id)

    async def add_many(self, replies: Sequence[CustomerReply]) -> list[CustomerReply | None]:
        # A key that exists (or a single row): one by one, with ``add``'s None.
        return await self._add_many(
            replies, _INSERT_REPLIES, _reply_values, ("reply_message_id",), self.add, with_id
        )

    async def get(self, message_id: str) -> CustomerReply | None:
        row = (
            (await self._conn.execute(select(_rep).where(_rep.c.reply_message_id == message_id)))
            .mappings()
            .first()
        )
        return None if row is None else reply_from_row(row)

    async def update(self, reply: CustomerReply) -> None:
        await self._conn.execute(
            _UPDATE_REPLY,
            {
                "reply_id": reply.message_id,
                "new_context": reply.context_message_id,
                "new_root": reply.root_id,
                "new_decision": reply.decision,
                "new_handled_at": reply.handled_at,
            },
        )

    async def close_many(self, message_ids: Collection[str], handled_at: datetime) -> None:
        if message_ids:
            await self._conn.execute(
                _CLOSE_REPLIES, {"reply_ids": sorted(message_ids), "handled_at": handled_at}
            )

    async def for_root(self, root_id: int) -> list[CustomerReply]:
        rows = await self._conn.execute(
            select(_rep).where(_rep.c.wa_root_outgoing_message_id == root_id).order_by(_rep.c.id)
        )
        return [reply_from_row(r) for r in rows.mappings()]
