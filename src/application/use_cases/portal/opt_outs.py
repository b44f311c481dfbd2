"""A workspace's opt-outs: the numbers that asked for no more messages, and clearing one
(docs/opt-out.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.errors import NotFound
from domain.opt_out import OptOut, OptOutSource


@dataclass(frozen=True, slots=True, kw_only=True)
class OptOutPage:
    items: list[OptOut]
    next_before_id: int | None  # None: this is the last page


class ListOptOuts:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def __call__(self, account_id: int, before_id: int | None, limit: int) -> OptOutPage:
        async with self._uow as uow:
            # One more than asked says whether another page follows.
            found = await uow.opt_outs.for_account(account_id, before_id=before_id, limit=limit + 1)
        items = found[:limit]
        more = len(found) > limit
        return OptOutPage(items=items, next_before_id=items[-1].id if more and items else None)


class ClearOptOut:
    """Someone of the workspace opts the number back in (the shopper asked them to); the
    row stays, inactive, with ``portal`` as its source. Another workspace's is 404."""

    def __init__(self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock

    async def __call__(self, account_id: int, opt_out_id: int) -> OptOut:
        now = self._clock.now()
        async with self._uow as uow:
            found = await uow.opt_outs.get(opt_out_id)
            if found is None or found.account_id != account_id:
                raise NotFound("opt-out", opt_out_id)
            if not found.active:
                return found  # cleared before: clearing again changes nothing
            cleared = await uow.opt_outs.save(
                dataclasses.replace(
                    found,
                    active=False,
                    source=OptOutSource.PORTAL,
                    opted_in_at=now,
                    updated_at=now,
                )
            )
            await uow.commit()
        await self._activity.publish(
            ActivityEvent(
                account_id=account_id,
                shipment_id=None,
                reason=None,
                outcome=Outcome.OPTED_IN,
                kind=ActivityKind.OPT_OUT,
                detail=f"{OptOutSource.PORTAL.value}: {found.scope.value}",
                occurred_at=now,
            ),
        )
        return cleared
