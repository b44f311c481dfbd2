"""The shopper gives a new address or another phone number on the tracking page's stand-in of
the customer portal: the same ESB action, on the same path, as an answer on WhatsApp.

Rules: only with the conversation's reference; one thing asked of logistics per conversation
(``ask_logistics``: recorded first, one idempotency key); an address or number that cannot be
used is refused field by field; the conversation then moves as after an answer (compare-and-set).
"""

from __future__ import annotations

from dataclasses import dataclass

from application.ndr_requests import ask_logistics
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher, NdrActions
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation, ConversationState
from domain.errors import InvalidFields, NotFound
from domain.ndr import NdrAction, NdrActionKind, NdrActionState
from domain.notification import link_ref_matches
from domain.phone import NumberProblem, mobile_number_in

ADDRESS_MIN, ADDRESS_MAX = 10, 500
#: What the page asks for, by form field.
FIELDS = {NdrActionKind.UPDATE_ADDRESS: "address", NdrActionKind.UPDATE_PHONE: "phone"}


@dataclass(frozen=True, slots=True)
class Asked:
    action: NdrAction  # what answers the request: this one, or the one asked for before
    now: bool  # the ESB was asked by this request


class AskFromTrackingPage:
    def __init__(
        self,
        uow: UnitOfWork,
        ndr: NdrActions,
        activity: ActivityPublisher,
        clock: Clock,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._ndr = ndr
        self._activity = activity
        self._clock = clock
        self._options = options

    async def __call__(self, shipment_id: int, ref: str, kind: NdrActionKind, value: str) -> Asked:
        """``NotFound`` without the conversation's reference; ``InvalidFields`` for an address
        or a number that cannot be used; ``UpstreamUnavailable`` when the ESB did not answer."""
        async with self._uow as uow:
            conversation = await uow.conversations.latest_for_shipment(shipment_id)
            if conversation is None or conversation.id is None:
                raise NotFound("shipment", shipment_id)
            if not link_ref_matches(conversation, ref):
                raise NotFound("shipment", shipment_id)
            actions = await uow.ndr_actions.for_conversation(conversation.id)
        # One thing is asked of logistics per conversation (docs/conversation.md).
        earlier = [a for a in actions if a.state is not NdrActionState.FAILED and a.kind != kind]
        if earlier:
            return Asked(earlier[0], now=False)
        address, phone = self._details(kind, value)
        now = self._clock.now()
        asked = NdrAction(
            conversation_id=conversation.id,
            account_id=conversation.account_id,
            shipment_id=conversation.shipment_id,
            external_shipment_id=conversation.external_shipment_id,
            kind=kind,
            reply_message_id=f"tracking-page:{conversation.id}:{kind.value}",
            created_at=now,
            updated_at=now,
            address=address,
            phone=phone,
        )
        action, sent = await ask_logistics(self._uow, self._ndr, self._clock, asked)
        if sent:
            await self._settle(conversation, action)
        return Asked(action, now=sent)

    def _details(self, kind: NdrActionKind, value: str) -> tuple[str | None, str | None]:
        """(address, phone) of the request, as the ESB takes them."""
        if kind is NdrActionKind.UPDATE_ADDRESS:
            address = " ".join(value.split())
            if not ADDRESS_MIN <= len(address) <= ADDRESS_MAX:
                raise InvalidFields(
                    {"address": f"write the whole address ({ADDRESS_MIN} to {ADDRESS_MAX} letters)"}
                )
            return address, None
        found = mobile_number_in(value, self._options.phone_region)
        if found.number is None:
            why = (
                "no phone number found"
                if found.problem is NumberProblem.NOT_FOUND
                else f"the number ending {found.last_digits} is not a mobile number here"
            )
            raise InvalidFields({"phone": f"{why}: write a mobile number that has WhatsApp"})
        return None, found.number.digits

    async def _settle(self, conversation: Conversation, action: NdrAction) -> None:
        """The conversation moves as after a WhatsApp answer (compare-and-set: the webhook may
        move it at the same time; what it did first stays), and the timeline hears of it."""
        assert conversation.id is not None
        refused = action.state is NdrActionState.FAILED
        for _ in range(3):
            async with self._uow as uow:
                current = await uow.conversations.get(conversation.id)
                assert current is not None
                before = current.state
                if not current.answered(ConversationState.RESOLVED, refused=refused):
                    break
                moved = await uow.conversations.move(
                    conversation.id, current.state, {before}, self._clock.now()
                )
                await uow.commit()
                if moved:
                    break
        outcomes = (
            [Outcome.ACTION_FAILED, Outcome.NEEDS_PERSON] if refused else [Outcome.ACTION_TAKEN]
        )
        for outcome in outcomes:
            detail = f"{action.kind.value}: {action.result}" if refused else action.kind.value
            await self._activity.publish(
                ActivityEvent(
                    account_id=conversation.account_id,
                    shipment_id=conversation.shipment_id,
                    reason=conversation.reason.value,
                    outcome=outcome,
                    kind=ActivityKind.ACTION,
                    conversation_id=conversation.id,
                    detail=detail[:500],
                    occurred_at=self._clock.now(),
                )
            )
