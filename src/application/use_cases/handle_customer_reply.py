"""The shopper's answer: stored once, decided once, acted on once (docs/conversation.md).

The decision is saved on the reply before anything is done about it, so a retry after a
crash or an unavailable ESB carries out the same decision, and every side effect has its
own key: one NDR action per conversation and kind, one follow-up per reply.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog

from application.follow_through import cancel_follow_through
from application.follow_ups import FollowUpSender
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher, NdrActions
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, SenderResolver
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.answers import unusable_answer, why_not_bound
from domain.conversation import Conversation, ConversationState
from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.flows import Context, Decision, decide, refusal, switched_language
from domain.language import language_in, normalise
from domain.messages import (
    CustomerReply,
    InteractiveMessage,
    OutgoingMessage,
    QuickReply,
    ReplyType,
    TextMessage,
)
from domain.ndr import NdrAction, NdrActionKind, NdrActionState
from domain.notification import ButtonPayload, parse_button_payload, reference_matches
from domain.settings import DEFAULT_CONNECTION_ID
from domain.webhook import InboundKind, InboundMessage, follow_up_ref

_log = structlog.get_logger("replies")


@dataclass(frozen=True, slots=True)
class ReplyHandled:
    conversation_id: int | None
    duplicate: bool = False
    why: str = ""
    action: NdrActionKind | None = None
    action_state: NdrActionState | None = None
    refused: bool = False  # it named a conversation it is not bound to: nothing was done


@dataclass(frozen=True, slots=True)
class _Found:
    conversation: Conversation | None
    context: OutgoingMessage | None  # the message of ours it quotes, when it is that one's
    refused: str | None = None  # why the conversation it named may not be driven by it


class HandleCustomerReply:
    def __init__(
        self,
        uow: UnitOfWork,
        follow_ups: FollowUpSender,
        ndr: NdrActions,
        activity: ActivityPublisher,
        clock: Clock,
        options: NotificationOptions,
        senders: SenderResolver,
    ) -> None:
        self._senders = senders
        self._uow = uow
        self._follow_ups = follow_ups
        self._ndr = ndr
        self._activity = activity
        self._clock = clock
        self._options = options

    async def __call__(self, message: InboundMessage) -> ReplyHandled:
        """Raises ``UpstreamUnavailable`` when the ESB or Meta must be asked again later."""
        button_id, payload = _button(message)
        found = await self._find(message, payload)
        reply, conversation, is_new = await self._store(message, button_id, found)
        answers = message.kind is InboundKind.ANSWER
        if is_new and conversation is not None and answers:
            await self._publish(conversation, Outcome.ANSWERED, ActivityKind.ANSWER, button_id)
        if reply.handled_at is not None:
            return ReplyHandled(conversation.id if conversation else None, duplicate=True)
        if conversation is None:
            why = f"not bound: {found.refused}" if found.refused else "no conversation"
            if found.refused:
                _log.warning("answer refused", reason=found.refused, message_id=message.message_id)
            await self._mark_handled(reply, _encode(Decision(why=why)))
            return ReplyHandled(None, why=why, refused=found.refused is not None)
        assert conversation.id is not None
        decision = _decode(reply.decision) if reply.decision else None
        if decision is None:
            if message.kind is InboundKind.ANSWER:
                decision = await self._decide(conversation, message, button_id)
            elif message.kind is InboundKind.UNUSABLE:
                decision = await self._unusable(conversation, message)
            elif message.kind is InboundKind.NUMBER_CHANGED:
                decision = await self._move_to_new_number(conversation, message)
            else:
                decision = Decision(why=f"not an answer: {message.type}")
            reply = await self._save_decision(reply, decision)

        text_or_buttons = decision.message
        action_state: NdrActionState | None = None
        if decision.action is not None:
            action_state = await self._perform(conversation, decision, message.message_id)
            if action_state is NdrActionState.FAILED:
                text_or_buttons = await self._refusal(conversation, decision.action)
        conversation = await self._update_conversation(conversation.id, decision, action_state)
        if text_or_buttons is not None:
            await self._follow_ups.send(
                conversation,
                text_or_buttons,
                client_ref=follow_up_ref(message.message_id),
            )
        await self._mark_handled(reply, reply.decision)
        return ReplyHandled(
            conversation.id, why=decision.why, action=decision.action, action_state=action_state
        )

    async def _find(self, message: InboundMessage, payload: ButtonPayload | None) -> _Found:
        """The conversation the message answers: the message of ours it quotes, else the one
        its button payload names with the right reference, else the shopper's latest through
        this connection; kept only when the message is bound to it (``domain.answers``)."""
        connection_id = (
            DEFAULT_CONNECTION_ID if message.connection_id is None else message.connection_id
        )
        async with self._uow as uow:
            context = (
                await uow.messages.get_by_message_id(message.context_message_id)
                if message.context_message_id
                else None
            )
            conversation: Conversation | None = None
            if context is not None:
                conversation = await uow.conversations.get(context.conversation_id)
            if conversation is None and payload is not None:
                named = await uow.conversations.get(payload.conversation_id)
                if named is not None and reference_matches(named, payload):
                    conversation = named
            if conversation is None:
                conversation = await uow.conversations.latest_for_shopper(
                    message.from_phone, message.from_user_id, connection_id
                )
        if conversation is None:
            return _Found(None, None)
        sender = await self._senders.by_connection_id(conversation.sender_connection_id)
        refused = why_not_bound(
            conversation,
            message,
            connection_id=connection_id,
            conversation_number_id=sender.phone_number_id,
            via_context=context is not None and context.conversation_id == conversation.id,
        )
        if refused is not None:
            return _Found(None, None, refused)
        return _Found(conversation, context)

    async def _move_to_new_number(
        self, conversation: Conversation, message: InboundMessage
    ) -> Decision:
        """Meta's ``user_changed_number``: the conversation goes on with the new number."""
        assert conversation.id is not None
        assert message.new_phone
        if conversation.state in (ConversationState.EXPIRED, ConversationState.FAILED):
            return Decision(why="number changed (conversation closed)")
        async with self._uow as uow:
            await uow.conversations.change_phone(
                conversation.id, message.new_phone, self._clock.now()
            )
            await uow.commit()
        return Decision(why="number changed")

    async def _store(
        self, message: InboundMessage, button_id: str | None, found: _Found
    ) -> tuple[CustomerReply, Conversation | None, bool]:
        now = self._clock.now()
        conversation, context = found.conversation, found.context
        async with self._uow as uow:
            root_id = await _root_id(uow, context, conversation)
            reply = CustomerReply(
                reply_message_id=message.message_id,
                customer_phone=message.from_phone,
                customer_user_id=message.from_user_id,
                wa_context_outgoing_message_id=message.context_message_id,
                wa_root_outgoing_message_id=root_id,
                customer_reply_type=_reply_type(message),
                customer_reply_value=(
                    message.button_text or message.reply_title or message.text or message.type
                ),
                button_reply_id=button_id,
                payload=message.payload,
                external_updated_at=message.timestamp,
                created_at=now,
            )
            stored = await uow.replies.add(reply)
            is_new = stored is not None
            if stored is None:
                stored = await uow.replies.get(message.message_id)
                assert stored is not None
            if conversation is not None and conversation.id is not None and message.from_user_id:
                await uow.conversations.remember_user_id(conversation.id, message.from_user_id)
            if is_new and conversation is not None and conversation.id is not None:
                await uow.conversations.note_customer_message(conversation.id, message.timestamp)
                await cancel_follow_through(uow, conversation.id, now)  # docs/scheduler.md
                last = conversation.last_customer_message_at
                if last is None or message.timestamp > last:
                    conversation.last_customer_message_at = message.timestamp
            await uow.commit()
        return stored, conversation, is_new

    async def _decide(
        self, conversation: Conversation, message: InboundMessage, button_id: str | None
    ) -> Decision:
        assert conversation.id is not None
        # Typed text may choose the shopper's language (docs/languages.md): it is kept before
        # the texts are chosen, so this answer is already in it.
        choice = language_in(message.text) if button_id is None else None
        async with self._uow as uow:
            if choice is not None:
                phone = conversation.customer_phone
                if await uow.conversations.shopper_language(phone) != choice.language:
                    await uow.conversations.remember_language(
                        phone, choice.language, self._clock.now()
                    )
                    await uow.commit()
            latest = await uow.conversations.latest_for_shipment(conversation.shipment_id)
            actions = await uow.ndr_actions.for_conversation(conversation.id)
            context = await self._context(uow, conversation)
        if choice is not None and choice.explicit:
            return switched_language(conversation, context, _refused(actions))
        # A refused action is no answer: the shopper may still choose another option.
        taken = any(
            a.reply_message_id != message.message_id and a.state is not NdrActionState.FAILED
            for a in actions
        )
        return decide(
            conversation,
            button_id=button_id,
            text=message.text,
            is_latest=latest is None or latest.id == conversation.id,
            action_taken=taken,
            context=context,
            refused=_refused(actions),
        )

    async def _refusal(
        self, conversation: Conversation, kind: NdrActionKind
    ) -> InteractiveMessage | TextMessage:
        assert conversation.id is not None
        async with self._uow as uow:
            actions = await uow.ndr_actions.for_conversation(conversation.id)
            context = await self._context(uow, conversation)
        return refusal(kind, refused=_refused(actions), context=context)

    async def _unusable(self, conversation: Conversation, message: InboundMessage) -> Decision:
        async with self._uow as uow:
            context = await self._context(uow, conversation)
        return unusable_answer(conversation, message, context.texts)

    async def _context(self, uow: UnitOfWork, conversation: Conversation) -> Context:
        """What the texts need; the options are the buttons of the template the shopper got,
        the language the shopper's own choice, else the template's (docs/languages.md)."""
        template = (
            await uow.templates.get(conversation.template_id)
            if conversation.template_id is not None
            else None
        )
        language = await uow.conversations.shopper_language(conversation.customer_phone)
        if language is None and template is not None:
            language = normalise(template.language)
        base = self._options.tracking_base_url
        return Context(
            link=f"{base}/track/whatsapp/{conversation.shipment_id}",
            support_phone=self._options.support_phone,
            support_email=self._options.support_email,
            now=self._clock.now(),
            options=template.buttons if template is not None else (),
            phone_region=self._options.phone_region,
            texts=self._options.catalogs.texts(language),
        )

    async def _save_decision(self, reply: CustomerReply, decision: Decision) -> CustomerReply:
        updated = _replace_reply(reply, decision=_encode(decision))
        async with self._uow as uow:
            await uow.replies.update(updated)
            await uow.commit()
        return updated

    async def _perform(
        self, conversation: Conversation, decision: Decision, reply_id: str
    ) -> NdrActionState:
        assert conversation.id is not None
        assert decision.action is not None
        now = self._clock.now()
        async with self._uow as uow:
            action = await uow.ndr_actions.add(
                NdrAction(
                    conversation_id=conversation.id,
                    account_id=conversation.account_id,
                    shipment_id=conversation.shipment_id,
                    external_shipment_id=conversation.external_shipment_id,
                    kind=decision.action,
                    reply_message_id=reply_id,
                    delivery_date=decision.delivery_date,
                    phone=decision.phone,
                    disputed_fake_attempt=decision.disputed_fake_attempt,
                    created_at=now,
                    updated_at=now,
                )
            )
            if action is None:
                action = await uow.ndr_actions.get_for(conversation.id, decision.action)
                assert action is not None
            await uow.commit()
        if action.reply_message_id != reply_id or action.state is not NdrActionState.PENDING:
            return action.state  # asked for by another answer, or finished before
        action.attempts += 1
        try:
            reference = await self._ndr.perform(action)
        except UpstreamRejected as exc:
            action.state = NdrActionState.FAILED
            action.result = str(exc)[:2000]
        except UpstreamUnavailable:
            action.updated_at = self._clock.now()
            async with self._uow as uow:
                await uow.ndr_actions.update(action)
                await uow.commit()
            raise
        else:
            action.state = NdrActionState.DONE
            action.result = reference
        action.updated_at = self._clock.now()
        async with self._uow as uow:
            await uow.ndr_actions.update(action)
            await uow.commit()
        outcome = (
            Outcome.ACTION_TAKEN if action.state is NdrActionState.DONE else Outcome.ACTION_FAILED
        )
        await self._publish(conversation, outcome, ActivityKind.ACTION, action.kind.value)
        if action.state is NdrActionState.FAILED:
            await self._publish(
                conversation,
                Outcome.NEEDS_PERSON,
                ActivityKind.ACTION,
                f"{action.kind.value}: {action.result}"[:500],
            )
        return action.state

    async def _update_conversation(
        self, conversation_id: int, decision: Decision, action_state: NdrActionState | None
    ) -> Conversation:
        # Compare-and-set at the database, never a whole-row write: the worker and the status
        # webhook change the same conversation at the same time (docs/sending.md).
        for _ in range(3):
            async with self._uow as uow:
                conversation = await uow.conversations.get(conversation_id)
                assert conversation is not None
                before = conversation.state
                now = self._clock.now()
                moved = conversation.answered(
                    decision.state, refused=action_state is NdrActionState.FAILED
                )
                if moved and not await uow.conversations.move(
                    conversation_id, conversation.state, {before}, now
                ):
                    continue  # another writer moved it first: decide again on what it is now
                if decision.nudge and await uow.conversations.mark_nudged(conversation_id, now):
                    conversation.nudged_at = now
                await uow.commit()
                return conversation
        async with self._uow as uow:  # three writers in a row moved it: keep what they did
            current = await uow.conversations.get(conversation_id)
        assert current is not None
        return current

    async def _mark_handled(self, reply: CustomerReply, decision: str | None) -> None:
        async with self._uow as uow:
            await uow.replies.update(
                _replace_reply(reply, decision=decision, handled_at=self._clock.now())
            )
            await uow.commit()

    async def _publish(
        self, conversation: Conversation, outcome: Outcome, kind: ActivityKind, detail: str | None
    ) -> None:
        try:
            await self._activity.publish(
                ActivityEvent(
                    account_id=conversation.account_id,
                    shipment_id=conversation.shipment_id,
                    reason=conversation.reason.value,
                    outcome=outcome,
                    kind=kind,
                    conversation_id=conversation.id,
                    detail=detail,
                    occurred_at=self._clock.now(),
                )
            )
        except Exception as exc:  # recorded already; the timeline must not block the answer
            _log.error("activity not published", error=str(exc))


def _button(message: InboundMessage) -> tuple[str | None, ButtonPayload | None]:
    """The answer's button id, and our payload on a template's button (template taps)."""
    if message.type == "button":
        parsed = parse_button_payload(message.button_payload or "")
        if parsed is not None:
            return parsed.button_id, parsed
        return None, None  # not a payload of ours: read like free text
    if message.type == "interactive":
        return message.reply_id, None
    return None, None


def _refused(actions: list[NdrAction]) -> frozenset[NdrActionKind]:
    return frozenset(a.kind for a in actions if a.state is NdrActionState.FAILED)


def _reply_type(message: InboundMessage) -> ReplyType:
    if message.type == "button":
        return ReplyType.BUTTON
    if message.type == "interactive":
        return ReplyType.INTERACTIVE
    if message.type == "text":
        return ReplyType.TEXT
    return ReplyType.OTHER


async def _root_id(
    uow: UnitOfWork, context: OutgoingMessage | None, conversation: Conversation | None
) -> int | None:
    """The seed's rule: the template itself when it was answered, else the template it roots."""
    if context is not None and context.root_message_id is None:
        return context.id
    root_wamid = context.root_message_id if context is not None else None
    if root_wamid is None and conversation is not None:
        root_wamid = conversation.root_message_id
    if root_wamid is None:
        return None
    root = await uow.messages.get_by_message_id(root_wamid)
    return root.id if root is not None else None


def _replace_reply(reply: CustomerReply, **changes: Any) -> CustomerReply:
    return dataclasses.replace(reply, **changes)


def _encode(decision: Decision) -> str:
    message: dict[str, Any] | None = None
    if isinstance(decision.message, TextMessage):
        message = {
            "type": "text",
            "body": decision.message.body,
            "preview_url": decision.message.preview_url,
        }
    elif isinstance(decision.message, InteractiveMessage):
        message = {
            "type": "interactive",
            "body": decision.message.body,
            "buttons": [{"id": b.id, "title": b.title} for b in decision.message.buttons],
        }
    return json.dumps(
        {
            "message": message,
            "action": decision.action.value if decision.action else None,
            "delivery_date": decision.delivery_date.isoformat() if decision.delivery_date else None,
            "phone": decision.phone,
            "disputed_fake_attempt": decision.disputed_fake_attempt,
            "state": decision.state.value if decision.state else None,
            "nudge": decision.nudge,
            "why": decision.why,
        },
        ensure_ascii=False,
    )


def _decode(text: str) -> Decision:
    data = json.loads(text)
    raw = data.get("message")
    message: InteractiveMessage | TextMessage | None = None
    if raw and raw["type"] == "text":
        message = TextMessage(body=raw["body"], preview_url=raw.get("preview_url", False))
    elif raw and raw["type"] == "interactive":
        message = InteractiveMessage(
            body=raw["body"], buttons=tuple(QuickReply(b["id"], b["title"]) for b in raw["buttons"])
        )
    return Decision(
        message=message,
        action=NdrActionKind(data["action"]) if data.get("action") else None,
        delivery_date=date.fromisoformat(data["delivery_date"])
        if data.get("delivery_date")
        else None,
        phone=data.get("phone"),
        disputed_fake_attempt=bool(data.get("disputed_fake_attempt")),
        state=ConversationState(data["state"]) if data.get("state") else None,
        nudge=bool(data.get("nudge")),
        why=data.get("why", ""),
    )
