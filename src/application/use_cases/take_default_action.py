"""A silent shopper's default action (docs/scheduler.md): at the cut-off before the
courier's next attempt, the workspace's choice for the reason (``reattempt``) is asked of
the ESB as if the shopper had tapped it.

It is the conversation's one NDR action of that kind (``uq_ndr_action_kind``), sent with the
same idempotency key a tap would carry; marked ``automatic`` in the record, the portal and
the activity event.
"""

from __future__ import annotations

import structlog

from application.follow_through import still_silent
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher, NdrActions
from application.ports.repositories import UnitOfWork
from application.services import SettingsReader
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation, ConversationState
from domain.errors import UpstreamRejected, UpstreamUnavailable
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
            silence = await still_silent(uow, job, now)
            conversation = silence.conversation
            if conversation is None or conversation.id is None:
                _log.info("default action not taken", why=silence.why_not, key=job.key)
                return
            setting = await self._settings.get(uow, conversation.account_id)
            chosen = setting.default_actions.get(conversation.reason, DefaultAction.NOTHING)
            kind = _KINDS.get(chosen)
            if kind is None:
                return  # the workspace chose nothing since
            asked = await uow.ndr_actions.for_conversation(conversation.id)
            action = next((a for a in asked if a.automatic), None)
            if action is None:
                if asked:
                    return  # the shopper's own action was asked for already
                action = await uow.ndr_actions.add(
                    NdrAction(
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
                )
                await uow.commit()
        # Stored by an earlier run that stopped before the ESB answered: asked again, with
        # the same idempotency key.
        if action is None or action.state is not NdrActionState.PENDING:
            return
        await self._perform(conversation, action)

    async def _perform(self, conversation: Conversation, action: NdrAction) -> None:
        assert conversation.id is not None
        action.attempts += 1
        try:
            action.result = await self._ndr.perform(action)
            action.state = NdrActionState.DONE
        except UpstreamRejected as exc:
            action.state = NdrActionState.FAILED
            action.result = str(exc)[:2000]
        except UpstreamUnavailable:
            # The action stays pending: the job is tried again and sends it with the same key.
            action.updated_at = self._clock.now()
            async with self._uow as uow:
                await uow.ndr_actions.update(action)
                await uow.commit()
            raise
        now = self._clock.now()
        action.updated_at = now
        async with self._uow as uow:
            await uow.ndr_actions.update(action)
            if action.state is NdrActionState.DONE:
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
                outcome=Outcome.ACTION_TAKEN if done else Outcome.ACTION_FAILED,
                kind=ActivityKind.ACTION,
                conversation_id=conversation.id,
                detail=action.kind.value if done else f"{action.kind.value}: {action.result}"[:500],
                automatic=True,
                occurred_at=now,
            )
        )
