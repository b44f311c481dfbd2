"""Scheduled jobs (``wa_scheduled_jobs``): claimed with ``FOR UPDATE SKIP LOCKED``.

The claim walks the ``(state, run_after)`` index in order and stops at ``limit``: InnoDB locks
what it reads, so a query that sorted otherwise would lock every due row. Locked rows of
another worker are skipped, not waited for; on SQLite (one worker) the clause is ignored
and the database's single writer does the same job.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.engine import RowMapping

from domain.scheduling import JobCounts, JobState, ScheduledJob
from infrastructure.db.repositories._base import SqlRepository
from infrastructure.db.tables import scheduled_jobs as t

_PENDING = JobState.PENDING.value
#: Finished for good: what ``purge_finished`` may delete (``failed`` stays for a human).
_FINISHED = (JobState.DONE.value, JobState.CANCELLED.value)


def _entity(row: RowMapping) -> ScheduledJob:
    return ScheduledJob(
        id=row["id"],
        kind=row["kind"],
        key=row["job_key"],
        account_id=row["account_id"],
        conversation_id=row["conversation_id"],
        due_at=row["due_at"],
        payload=json.loads(row["payload"] or "{}"),
        state=JobState(row["state"]),
        run_after=row["run_after"],
        attempts=row["attempts"],
        claimed_at=row["claimed_at"],
        done_at=row["done_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _values(job: ScheduledJob) -> dict[str, Any]:
    return {
        "kind": job.kind,
        "job_key": job.key,
        "account_id": job.account_id,
        "conversation_id": job.conversation_id,
        "due_at": job.due_at,
        "run_after": job.run_after or job.due_at,
        "payload": json.dumps(job.payload, separators=(",", ":"), sort_keys=True),
        "state": job.state.value,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "created_at": job.created_at,
        "updated_at": job.created_at,
    }


# Built once: executed with the rows as parameters (see SqlRepository._insert_unique).
_INSERT = t.insert()
_INSERT_MANY = t.insert().returning(t.c.id, t.c.kind, t.c.job_key)

# Every answer cancels its conversation's jobs: built once, executed with parameters.
_CANCEL_ALL_MANY = (
    update(t)
    .where(
        t.c.kind.in_(bindparam("kinds", expanding=True)),
        t.c.job_key.in_(bindparam("keys", expanding=True)),
        t.c.state == _PENDING,
    )
    .values(state=JobState.CANCELLED.value, done_at=bindparam("now"), updated_at=bindparam("now"))
)


class SqlScheduledJobRepository(SqlRepository):
    async def schedule(self, job: ScheduledJob) -> bool:
        return await self._insert_unique(_INSERT, _values(job)) is not None

    async def schedule_many(self, jobs: Sequence[ScheduledJob]) -> list[bool]:
        # A kind and key that exist already (or a single row): one by one.
        return await self._add_many(
            jobs, _INSERT_MANY, _values, ("kind", "job_key"), self.schedule, lambda _, __: True
        )

    async def get(self, kind: str, key: str) -> ScheduledJob | None:
        stmt = select(t).where(t.c.kind == kind, t.c.job_key == key)
        row = (await self._conn.execute(stmt)).mappings().first()
        return None if row is None else _entity(row)

    async def claim_due(
        self, now: datetime, lease: timedelta, limit: int, kinds: Collection[str] | None = None
    ) -> list[ScheduledJob]:
        stmt = (
            select(t)
            .where(t.c.state == _PENDING, t.c.run_after <= now)
            .order_by(t.c.state, t.c.run_after)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if kinds is not None:
            stmt = stmt.where(t.c.kind.in_(list(kinds)))
        jobs = [_entity(r) for r in (await self._conn.execute(stmt)).mappings()]
        if not jobs:
            return jobs
        until = now + lease
        await self._conn.execute(
            update(t)
            .where(t.c.id.in_([j.id for j in jobs]))
            .values(run_after=until, claimed_at=now, attempts=t.c.attempts + 1, updated_at=now)
        )
        for job in jobs:
            job.run_after, job.claimed_at, job.attempts = until, now, job.attempts + 1
        return jobs

    async def finish(self, jobs: Sequence[ScheduledJob], now: datetime) -> int:
        if not jobs:
            return 0
        # Held by this claim: same id and token (a claim taken over after the lease has a
        # higher ``attempts``; it finishes the job itself). One statement per token (a batch
        # almost always has one): ``id IN (...)`` walks the primary key.
        by_token: dict[int, list[int]] = {}
        for job in jobs:
            assert job.id is not None
            by_token.setdefault(job.attempts, []).append(job.id)
        done = 0
        for token, ids in by_token.items():
            result = await self._conn.execute(
                update(t)
                .where(t.c.id.in_(ids), t.c.attempts == token, t.c.state == _PENDING)
                .values(state=JobState.DONE.value, done_at=now, updated_at=now)
            )
            done += int(result.rowcount)
        return done

    async def retry(
        self, job: ScheduledJob, error: str, run_after: datetime | None, now: datetime
    ) -> bool:
        values: dict[str, Any] = {"last_error": error[:2000], "updated_at": now}
        if run_after is None:
            values["state"] = JobState.FAILED.value
        else:
            values["run_after"] = run_after
        result = await self._conn.execute(
            update(t)
            .where(t.c.id == job.id, t.c.attempts == job.attempts, t.c.state == _PENDING)
            .values(values)
        )
        return bool(result.rowcount)

    async def cancel(self, kind: str, key: str, now: datetime) -> bool:
        result = await self._conn.execute(
            update(t)
            .where(t.c.kind == kind, t.c.job_key == key, t.c.state == _PENDING)
            .values(state=JobState.CANCELLED.value, done_at=now, updated_at=now)
        )
        return bool(result.rowcount)

    async def cancel_all(self, kinds: Collection[str], key: str, now: datetime) -> int:
        return await self.cancel_all_many(kinds, [key], now)

    async def cancel_all_many(
        self, kinds: Collection[str], keys: Collection[str], now: datetime
    ) -> int:
        if not keys:
            return 0
        params = {"kinds": sorted(kinds), "keys": sorted(keys), "now": now}
        return int((await self._conn.execute(_CANCEL_ALL_MANY, params)).rowcount)

    async def counts(self, now: datetime, overdue_after: timedelta) -> list[JobCounts]:
        late = now - overdue_after
        stmt = (
            select(
                t.c.kind,
                func.count(),
                func.sum(case((t.c.due_at < late, 1), else_=0)),
            )
            .where(t.c.state == _PENDING, t.c.due_at <= now)
            .group_by(t.c.kind)
        )
        rows = await self._conn.execute(stmt)
        return [JobCounts(kind, int(due), int(overdue or 0)) for kind, due, overdue in rows]

    async def purge_finished(self, finished_before: datetime, limit: int) -> int:
        # ``run_after`` too, though ``done_at`` says when the job finished: it makes the
        # select a range of the claim index ``(state, run_after)``, which stops at the cut-off
        # instead of reading every recent done row. A done job's ``run_after`` is its last
        # claim plus a lease; a cancelled job's is its due time, so a job cancelled long
        # before it was due is deleted that much later. Ids first: MariaDB takes no LIMIT in
        # an IN subquery, SQLite no LIMIT on DELETE.
        ids = (
            await self._conn.scalars(
                select(t.c.id)
                .where(
                    t.c.state.in_(_FINISHED),
                    t.c.run_after < finished_before,
                    t.c.done_at < finished_before,
                )
                .order_by(t.c.state, t.c.run_after)
                .limit(limit)
            )
        ).all()
        if not ids:
            return 0
        result = await self._conn.execute(
            delete(t).where(t.c.id.in_(list(ids)), t.c.state.in_(_FINISHED))
        )
        return int(result.rowcount)
