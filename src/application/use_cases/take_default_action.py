"""A silent shopper's default action (docs/scheduler.md): at the cut-off before the
courier's next attempt, the workspace's choice for the reason (``reattempt``) is asked of
the ESB as if the shopper had tapped it.

Rules: only while the shopper is still silent (``follow_through.silent_conversation``); only
what the workspace still chooses for the reason; never over the shopper's own action; the
conversation's one NDR action of that kind (``uq_ndr_action_kind``), asked through the path a
tap takes (``application.ndr_requests.ask_logistics``, the same idempotency key); done, it
resolves the open conversation; marked ``automatic`` in the record, the portal and the
activity event.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from application.follow_through import silent_conversation
from application.ndr_requests import ask_logistics
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher, NdrActions
from application.ports.repositories import UnitOfWork
from application.services import SettingsReader
from domain.activity import ActivityEvent, ActivityKind
from domain.conversation import Conversation, ConversationState
from domain.ndr import NdrAction, NdrActionKind, NdrActionState
from domain.scheduling import DEFAULT_ACTION, DefaultAction, ScheduledJob

_log = structlog.get_logger("default_actions")

#: What stands for the shopper's answer on an automatic action (``reply_message_id``).
AUTOMATIC = "automatic"
_KINDS = {DefaultAction.REATTEMPT: NdrActionKind.REATTEMPT}


class TakeDefaultAction:
    kind = DEFAULT_ACTION

    def __init__(
        self,
        uow: UnitOfWork,
        settings: SettingsReader,
        ndr: NdrActions,
        activity: ActivityPublisher,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._settings = settings
        self._ndr = ndr
        self._activity = activity
        self._clock = clock

    async def __call__(self, job: ScheduledJob) -> None:
        """Raises ``UpstreamUnavailable`` while the ESB is down (tried again later)."""
        now = self._clock.now()
        async with self._uow as uow:
            conversation = await silent_conversation(uow, job, now)
            if conversation is None or conversation.id is None:
                return
            setting = await self._settings.get(uow, conversation.account_id)
            chosen = setting.default_actions.get(conversation.reason, DefaultAction.NOTHING)
            kind = _KINDS.get(chosen)
            if kind is None:
                return  # the workspace chose nothing since
            asked = await uow.ndr_actions.for_conversation(conversation.id)
            if any(not a.automatic for a in asked):
                return  # the shopper's own action was asked for already
        # Asked again after a run that stopped before the ESB answered, with the same key.
        action, asked_now = await ask_logistics(
            self._uow, self._ndr, self._clock, _automatic(conversation, kind, now)
        )
        if not asked_now:
            return
        if action.state is NdrActionState.DONE:
            async with self._uow as uow:
                await uow.conversations.move(
                    conversation.id, ConversationState.RESOLVED, (ConversationState.OPEN,), now
                )
                await uow.commit()
        done = action.state is NdrActionState.DONE
        await self._activity.publish(
            ActivityEvent(
                account_id=conversation.account_id,
                shipment_id=conversation.shipment_id,
                reason=conversation.reason.value,
                outcome=action.outcome,
                kind=ActivityKind.ACTION,
                conversation_id=conversation.id,
                detail=action.kind.value if done else f"{action.kind.value}: {action.result}"[:500],
                automatic=True,
                occurred_at=self._clock.now(),
            )
        )


def _automatic(conversation: Conversation, kind: NdrActionKind, now: datetime) -> NdrAction:
    assert conversation.id is not None
    return NdrAction(
        conversation_id=conversation.id,
        account_id=conversation.account_id,
        shipment_id=conversation.shipment_id,
        external_shipment_id=conversation.external_shipment_id,
        kind=kind,
        reply_message_id=AUTOMATIC,
        automatic=True,
        created_at=now,
        updated_at=now,
    )
