"""The end of a pass: problems recorded, each body marked done or waiting (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.use_cases.inbox.bodies import Body, ProcessedBatch
from domain.records import WebhookProblem

_log = structlog.get_logger("webhooks")

#: Meta itself gives up after 7 days; a body still failing then is set aside.
GIVE_UP_AFTER = timedelta(days=7)
#: A waiting body is tried again after 5 s, 10 s, 20 s ... at most every 15 minutes.
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=15)


class CloseBodies:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, bodies: list[Body], batch: ProcessedBatch, now: datetime) -> None:
        """Problems recorded, then each body marked done or waiting, in one transaction."""
        done: list[int] = []
        async with self._uow as uow:
            for body in bodies:
                if body.parsed.other_fields:
                    _log.info("webhook fields not handled", fields=list(body.parsed.other_fields))
                if body.problems:
                    await self._record_problems(uow, body, batch, now)
                if body.wait is not None:
                    await self._wait(uow, body, batch, now)
                elif body.problems:
                    count = len(body.problems)
                    await uow.inbox.mark_processed(
                        body.id, self._clock.now(), f"{count} element(s) not applied"
                    )
                else:
                    done.append(body.id)
            if done:
                await uow.inbox.mark_many_processed(done, self._clock.now())
            await uow.commit()
        batch.processed = (
            len(done) + batch.malformed + sum(1 for b in bodies if b.problems and b.wait is None)
        )

    async def _record_problems(
        self, uow: UnitOfWork, body: Body, batch: ProcessedBatch, now: datetime
    ) -> None:
        problems = [
            WebhookProblem(
                inbox_id=body.id,
                element=p.element,
                kind=p.kind.value,
                detail=p.detail,
                code=p.code,
                created_at=now,
            )
            for p in body.problems
        ]
        new = await uow.inbox.add_problems(problems)
        if not new:
            return  # recorded and alerted on an earlier pass
        # The same bytes closed before: Meta delivered the body again (docs/webhooks.md,
        # "Isolation"), the first one or the redelivery closed first (pumps share the
        # bodies). Its problems are this body's too, but were alerted and counted then.
        same = await uow.inbox.delivered_before(body.delivery, problems[0])
        if same is not None:
            _log.info(
                "webhook elements not applied, as in the same body delivered before",
                delivery_id=body.id,
                same_body_delivery_id=same,
                count=len(body.problems),
            )
            return
        for problem in body.problems:
            batch.problems[problem.kind.value] = batch.problems.get(problem.kind.value, 0) + 1
        first = body.problems[0]
        _log.error(
            "ALERT webhook elements not applied",
            delivery_id=body.id,
            count=len(body.problems),
            kinds=sorted({p.kind.value for p in body.problems}),
            element=first.element,
            error=first.detail,
            code=first.code,
        )

    async def _wait(
        self, uow: UnitOfWork, body: Body, batch: ProcessedBatch, now: datetime
    ) -> None:
        why = body.wait
        delivery = body.delivery
        if now - delivery.received_at > GIVE_UP_AFTER:
            _log.error("ALERT webhook given up", delivery_id=body.id, error=str(why))
            await uow.inbox.mark_processed(body.id, now, f"given up: {why}"[:2000])
            return
        delay = min(FIRST_RETRY * 2 ** min(delivery.attempts, 16), LONGEST_RETRY)
        _log.warning(
            "webhook waits for a retry",
            delivery_id=body.id,
            error=str(why),
            retry_in_seconds=int(delay.total_seconds()),
        )
        await uow.inbox.mark_waiting(body.id, f"waiting: {why}"[:2000], now + delay)
        batch.waiting.append(body.id)
