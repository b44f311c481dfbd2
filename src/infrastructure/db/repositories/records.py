"""Operational records: reason rules, FDR event outcomes, the webhook inbox, link clicks."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from application.ports.repositories import InboxBacklog
from domain.activity import Outcome
from domain.reason_rules import ReasonRule, RuleSource
from domain.reasons import FdrReason
from domain.records import (
    FdrEventRecord,
    LinkClick,
    WebhookDelivery,
    WebhookProblem,
    within_bytes,
)
from infrastructure.db.bulk import binary_protocol
from infrastructure.db.repositories._base import SqlRepository, with_id
from infrastructure.db.tables import (
    fdr_events,
    link_clicks,
    reason_rules,
    webhook_inbox,
    webhook_problems,
)


class SqlReasonRuleRepository(SqlRepository):
    async def all(self) -> list[ReasonRule]:
        rows = await self._conn.execute(select(reason_rules).order_by(reason_rules.c.id))
        return [
            ReasonRule(
                source=RuleSource(r["source"]),
                pattern=r["pattern"],
                reason=FdrReason(r["reason"]),
                priority=r["priority"],
            )
            for r in rows.mappings()
        ]


_e = fdr_events


def _event(row: RowMapping) -> FdrEventRecord:
    return FdrEventRecord(
        id=row["id"],
        event_key=row["event_key"],
        account_id=row["account_id"],
        shipment_id=row["shipment_id"],
        status_log_id=row["shipment_status_log_id"],
        reason=row["reason"],
        outcome=Outcome(row["outcome"]),
        detail=row["detail"],
        skip_reason=row["skip_reason"],
        conversation_id=row["conversation_id"],
        error_code=row["error_code"],
        received_at=row["received_at"],
    )


def _event_values(r: FdrEventRecord) -> dict[str, object]:
    return {
        "event_key": r.event_key,
        "account_id": r.account_id,
        "shipment_id": r.shipment_id,
        "shipment_status_log_id": r.status_log_id,
        "reason": r.reason,
        "outcome": r.outcome.value,
        "detail": r.detail,
        "skip_reason": r.skip_reason,
        "conversation_id": r.conversation_id,
        "error_code": r.error_code,
        "received_at": r.received_at,
        "created_at": r.received_at,
        "updated_at": r.received_at,
    }


# Built once: executed with the row as parameters (see SqlRepository._insert_unique).
_INSERT_EVENT = insert(_e)
_INSERT_EVENTS = insert(_e).returning(_e.c.id, _e.c.event_key)
_UPDATE_EVENT = update(_e).where(_e.c.event_key == bindparam("key"))


class SqlFdrEventRepository(SqlRepository):
    async def add(self, record: FdrEventRecord) -> FdrEventRecord | None:
        new_id = await self._insert_unique(_INSERT_EVENT, _event_values(record))
        return None if new_id is None else dataclasses.replace(record, id=new_id)

    async def add_many(self, records: Sequence[FdrEventRecord]) -> list[FdrEventRecord | None]:
        # A key recorded already (or a single row): one by one.
        return await self._add_many(
            records, _INSERT_EVENTS, _event_values, ("event_key",), self.add, with_id
        )

    async def recorded(self, event_keys: Collection[str]) -> set[str]:
        if not event_keys:
            return set()
        rows = await self._conn.execute(
            select(_e.c.event_key).where(_e.c.event_key.in_(sorted(event_keys)))
        )
        return {str(r.event_key) for r in rows}

    async def get(self, event_key: str) -> FdrEventRecord | None:
        row = (
            (await self._conn.execute(select(_e).where(_e.c.event_key == event_key)))
            .mappings()
            .first()
        )
        return None if row is None else _event(row)

    async def held(self, account_id: int, limit: int) -> list[FdrEventRecord]:
        """The workspace's events waiting for the end of quiet hours, oldest first."""
        rows = await self._conn.execute(
            select(_e)
            .where(_e.c.account_id == account_id, _e.c.outcome == Outcome.HELD.value)
            .order_by(_e.c.received_at, _e.c.id)
            .limit(limit)
        )
        return [_event(r) for r in rows.mappings()]

    async def update(self, record: FdrEventRecord) -> None:
        values = _event_values(record)
        values.pop("created_at")
        await self._conn.execute(_UPDATE_EVENT, {"key": record.event_key, **values})


_i = webhook_inbox
_INSERT_DELIVERY = insert(_i)
_INSERT_DELIVERIES = insert(_i).returning(_i.c.id)
_p = webhook_problems
#: How many of the latest bodies with the same problem ``delivered_before`` compares with.
_REDELIVERY_LOOK_BACK = 200
_INSERT_PROBLEM = insert(_p)


def _element(problem: WebhookProblem) -> str:
    """The element's path as the problems table holds it: cut to its column, so that a
    problem is found again by what was stored."""
    return problem.element[:255]


def _delivery(r: RowMapping) -> WebhookDelivery:
    return WebhookDelivery(
        id=r["id"],
        connection_id=r["connection_id"],
        body=bytes(r["body"]),
        received_at=r["received_at"],
        processed_at=r["processed_at"],
        error=r["error"],
        attempts=r["attempts"],
        retry_at=r["retry_at"],
    )


def _delivery_values(delivery: WebhookDelivery) -> dict[str, object]:
    return {
        "connection_id": delivery.connection_id,
        "body": delivery.body,
        "body_bytes": len(delivery.body),
        "received_at": delivery.received_at,
        "processed_at": delivery.processed_at,
        "error": delivery.error,
    }


class SqlWebhookInboxRepository(SqlRepository):
    async def add(self, delivery: WebhookDelivery) -> WebhookDelivery:
        async with binary_protocol(self._conn):  # the body unescaped (db/bulk.py)
            new_id = await self._insert(_INSERT_DELIVERY, _delivery_values(delivery))
        return dataclasses.replace(delivery, id=new_id)

    async def add_many(self, deliveries: Sequence[WebhookDelivery]) -> list[WebhookDelivery]:
        if len(deliveries) < 2:
            return [await self.add(d) for d in deliveries]
        # SQLAlchemy sends these rows as one multi-row INSERT ... RETURNING (its
        # "insertmanyvalues"; MariaDB 10.5+ and SQLite 3.35+ both return ids). An
        # auto-increment gives the rows of one statement ascending ids in the order of
        # VALUES, so the sorted ids match the bodies in order.
        async with binary_protocol(self._conn):  # the bodies unescaped (db/bulk.py)
            result = await self._conn.execute(
                _INSERT_DELIVERIES, [_delivery_values(d) for d in deliveries]
            )
        ids = sorted(int(i) for i in result.scalars())
        return [dataclasses.replace(d, id=i) for d, i in zip(deliveries, ids, strict=True)]

    async def pending(
        self,
        limit: int,
        received_before: datetime | None = None,
        max_bytes: int | None = None,
        now: datetime | None = None,
        claim_until: datetime | None = None,
    ) -> list[WebhookDelivery]:
        # Bodies waiting for Meta or the ESB must not starve fresh ones: fresh first, each
        # query walking the (processed_at, id) index in order instead of sorting the backlog.
        # Ids and sizes first, then only the bodies that fit: a backlog of Meta's largest
        # bodies (3 MB each) is never read into memory at once.
        base = select(_i.c.id, _i.c.body_bytes).where(_i.c.processed_at.is_(None))
        if received_before is not None:
            base = base.where(_i.c.received_at < received_before)
        due = or_(_i.c.retry_at.is_(None), _i.c.retry_at <= now) if now is not None else None
        fresh = base.where(_i.c.error.is_(None))
        if claim_until is not None:
            # A fresh body's retry_at is another pump's claim (another serve process): rows
            # it is claiming right now are skipped, not waited for.
            base = base.with_for_update(skip_locked=True)
            fresh = fresh.with_for_update(skip_locked=True)
            if due is not None:
                fresh = fresh.where(due)
        found = list((await self._conn.execute(fresh.order_by(_i.c.id).limit(limit))).all())
        if len(found) < limit:
            waiting = base.where(_i.c.error.is_not(None))
            if due is not None:
                waiting = waiting.where(due)
            waiting = waiting.order_by(_i.c.id).limit(limit - len(found))
            found += (await self._conn.execute(waiting)).all()
        ids = [r.id for r in within_bytes(found, max_bytes, lambda r: int(r.body_bytes))]
        if not ids:
            return []
        if claim_until is not None:
            await self._conn.execute(
                update(_i).where(_i.c.id.in_(ids)).values(retry_at=claim_until)
            )
        rows = {
            r["id"]: r
            for r in (await self._conn.execute(select(_i).where(_i.c.id.in_(ids)))).mappings()
        }
        return [_delivery(rows[i]) for i in ids if i in rows]

    async def get(self, delivery_id: int) -> WebhookDelivery | None:
        row = (await self._conn.execute(select(_i).where(_i.c.id == delivery_id))).mappings()
        found = row.first()
        return None if found is None else _delivery(found)

    async def mark_processed(
        self, delivery_id: int, processed_at: datetime, error: str | None = None
    ) -> None:
        await self._conn.execute(
            update(_i).where(_i.c.id == delivery_id).values(processed_at=processed_at, error=error)
        )

    async def mark_waiting(self, delivery_id: int, error: str, retry_at: datetime) -> None:
        await self._conn.execute(
            update(_i)
            .where(_i.c.id == delivery_id)
            .values(error=error, retry_at=retry_at, attempts=_i.c.attempts + 1)
        )

    async def add_problems(self, problems: Sequence[WebhookProblem]) -> int:
        added = 0
        for problem in problems:
            new_id = await self._insert_unique(
                _INSERT_PROBLEM,
                {
                    "inbox_id": problem.inbox_id,
                    "element": _element(problem),
                    "kind": problem.kind,
                    "code": problem.code,
                    "detail": problem.detail,
                    "created_at": problem.created_at,
                },
            )
            added += new_id is not None
        return added

    async def delivered_before(
        self, delivery: WebhookDelivery, problem: WebhookProblem
    ) -> int | None:
        assert delivery.id is not None
        connection = (
            _i.c.connection_id.is_(None)
            if delivery.connection_id is None
            else _i.c.connection_id == delivery.connection_id
        )
        # The latest bodies with that problem only (an index walk, bounded): bodies with
        # problems are kept for a human, so the table grows, and a body whose problem is new
        # walked all of it, reading a body row per problem row (seconds at 100 000 rows, in
        # the closing's transaction). One delivered again further back alerts again. Earlier
        # or later: pumps share the bodies, and the redelivery's may be closed first.
        latest = (
            select(_p.c.inbox_id)
            .where(
                _p.c.inbox_id != delivery.id,
                _p.c.element == _element(problem),
                _p.c.kind == problem.kind,
            )
            .order_by(_p.c.inbox_id.desc())
            .limit(_REDELIVERY_LOOK_BACK)
            .subquery()
        )
        earlier = await self._conn.scalar(
            select(latest.c.inbox_id)
            .join(_i, _i.c.id == latest.c.inbox_id)
            .where(_i.c.body_bytes == len(delivery.body), connection, _i.c.body == delivery.body)
            .order_by(latest.c.inbox_id.desc())
            .limit(1)
        )
        return None if earlier is None else int(earlier)

    async def problems(self, delivery_id: int) -> list[WebhookProblem]:
        rows = await self._conn.execute(
            select(_p).where(_p.c.inbox_id == delivery_id).order_by(_p.c.id)
        )
        return [
            WebhookProblem(
                inbox_id=r["inbox_id"],
                element=r["element"],
                kind=r["kind"],
                code=r["code"],
                detail=r["detail"],
                created_at=r["created_at"],
            )
            for r in rows.mappings()
        ]

    async def with_errors(self, limit: int) -> list[int]:
        rows = await self._conn.scalars(
            select(_i.c.id)
            .where(_i.c.processed_at.is_not(None), _i.c.error.is_not(None))
            .order_by(_i.c.id)
            .limit(limit)
        )
        return list(rows.all())

    async def requeue(self, delivery_ids: Sequence[int]) -> int:
        if not delivery_ids:
            return 0
        ids = list(delivery_ids)
        await self._conn.execute(delete(_p).where(_p.c.inbox_id.in_(ids)))
        result = await self._conn.execute(
            update(_i)
            .where(_i.c.id.in_(ids))
            .values(processed_at=None, error=None, attempts=0, retry_at=None)
        )
        return int(result.rowcount)

    async def mark_many_processed(
        self, delivery_ids: Sequence[int], processed_at: datetime
    ) -> None:
        if delivery_ids:
            await self._conn.execute(
                update(_i)
                .where(_i.c.id.in_(list(delivery_ids)))
                # A body that waited (ESB or Meta down) and is now done carries no error.
                .values(processed_at=processed_at, error=None, retry_at=None)
            )

    async def backlog(self) -> InboxBacklog:
        row = (
            await self._conn.execute(
                select(func.count(), func.min(_i.c.received_at)).where(_i.c.processed_at.is_(None))
            )
        ).one()
        return InboxBacklog(pending=int(row[0]), oldest_received_at=row[1])

    async def purge_processed(self, processed_before: datetime, limit: int) -> int:
        # Ids first: MariaDB takes no LIMIT in an IN subquery, SQLite no LIMIT on DELETE.
        ids = (
            await self._conn.scalars(
                select(_i.c.id)
                .where(_i.c.processed_at < processed_before, _i.c.error.is_(None))
                .order_by(_i.c.processed_at, _i.c.id)
                .limit(limit)
            )
        ).all()
        if not ids:
            return 0
        result = await self._conn.execute(delete(_i).where(_i.c.id.in_(list(ids))))
        return int(result.rowcount)


_c = link_clicks


class SqlLinkClickRepository(SqlRepository):
    async def add(self, click: LinkClick) -> LinkClick:
        new_id = await self._insert(
            _c.insert().values(
                shipment_id=click.shipment_id,
                conversation_id=click.conversation_id,
                source=click.source,
                user_agent=click.user_agent[:512],
                clicked_at=click.clicked_at,
            )
        )
        return dataclasses.replace(click, id=new_id)

    async def for_shipment(self, shipment_id: int) -> list[LinkClick]:
        rows = await self._conn.execute(
            select(_c).where(_c.c.shipment_id == shipment_id).order_by(_c.c.id)
        )
        return [
            LinkClick(
                id=r["id"],
                shipment_id=r["shipment_id"],
                conversation_id=r["conversation_id"],
                source=r["source"],
                user_agent=r["user_agent"],
                clicked_at=r["clicked_at"],
            )
            for r in rows.mappings()
        ]
