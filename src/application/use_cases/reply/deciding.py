"""What an answer leads to, asked of ``domain.flows`` with what it needs (docs/conversation.md).

Every read (and the writes an answer itself asks for: a chosen language, a changed number)
happens inside the caller's unit of work: the one that stores the answer and its decision.
"""

from __future__ import annotations

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, buttons_in
from application.use_cases.reply.reading import NO_READS, ReadAhead
from domain.answers import unusable_answer
from domain.conversation import Conversation, ConversationState
from domain.flows import Context, Decision, decide, refusal, switched_language
from domain.language import language_in, normalise
from domain.messages import InteractiveMessage, TextMessage
from domain.ndr import NdrAction, NdrActionKind, NdrActionState
from domain.notification import tracking_link
from domain.webhook import InboundKind, InboundMessage


class ReplyDecider:
    def __init__(self, clock: Clock, options: NotificationOptions) -> None:
        self._clock = clock
        self._options = options

    async def __call__(
        self,
        uow: UnitOfWork,
        conversation: Conversation,
        message: InboundMessage,
        button_id: str | None,
        reads: ReadAhead = NO_READS,
    ) -> Decision:
        """``reads``: what the pass read for it already (``ReadAhead``)."""
        if message.kind is InboundKind.ANSWER:
            return await self._decide(uow, conversation, message, button_id, reads)
        if message.kind is InboundKind.UNUSABLE:
            return unusable_answer(
                conversation, message, (await self._context(uow, conversation, reads)).texts
            )
        if message.kind is InboundKind.NUMBER_CHANGED:
            return await self._move_to_new_number(uow, conversation, message)
        return Decision(why=f"not an answer: {message.type}")

    async def _move_to_new_number(
        self, uow: UnitOfWork, conversation: Conversation, message: InboundMessage
    ) -> Decision:
        """Meta's ``user_changed_number``: the conversation goes on with the new number."""
        assert conversation.id is not None
        assert message.new_phone
        if conversation.state in (ConversationState.EXPIRED, ConversationState.FAILED):
            return Decision(why="number changed (conversation closed)")
        await uow.conversations.change_phone(conversation.id, message.new_phone, self._clock.now())
        return Decision(why="number changed")

    async def _decide(
        self,
        uow: UnitOfWork,
        conversation: Conversation,
        message: InboundMessage,
        button_id: str | None,
        reads: ReadAhead,
    ) -> Decision:
        assert conversation.id is not None
        # Typed text may choose the shopper's language (docs/languages.md): it is kept before
        # the texts are chosen, so this answer is already in it.
        choice = language_in(message.text) if button_id is None else None
        if choice is not None:
            reads = NO_READS  # the language is read after it is chosen
            phone = conversation.customer_phone
            if await uow.conversations.shopper_language(phone) != choice.language:
                await uow.conversations.remember_language(phone, choice.language, self._clock.now())
        latest = await reads.latest_for_shipment(uow, conversation.shipment_id)
        actions = await reads.actions_of(uow, conversation.id)
        context = await self._context(uow, conversation, reads)
        if choice is not None and choice.explicit:
            return switched_language(conversation, context, refused_kinds(actions))
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
            refused=refused_kinds(actions),
        )

    async def refusal(
        self, uow: UnitOfWork, conversation: Conversation, kind: NdrActionKind
    ) -> InteractiveMessage | TextMessage:
        assert conversation.id is not None
        actions = await uow.ndr_actions.for_conversation(conversation.id)
        context = await self._context(uow, conversation)
        return refusal(kind, refused=refused_kinds(actions), context=context)

    async def _context(
        self, uow: UnitOfWork, conversation: Conversation, reads: ReadAhead = NO_READS
    ) -> Context:
        """What the texts need; the options are the buttons of the template the shopper got,
        the language the shopper's own choice, else the template's (docs/languages.md)."""
        template = (
            await uow.templates.get(conversation.template_id)
            if conversation.template_id is not None
            else None
        )
        language = await reads.language_of(uow, conversation.customer_phone)
        if language is None and template is not None:
            language = normalise(template.language)
        base = self._options.tracking_base_url
        return Context(
            link=tracking_link(base, conversation),
            support_phone=self._options.support_phone,
            support_email=self._options.support_email,
            now=self._clock.now(),
            options=await buttons_in(uow, template, language, self._options.default_account_id),
            phone_region=self._options.phone_region,
            texts=self._options.catalogs.texts(language),
        )


def refused_kinds(actions: list[NdrAction]) -> frozenset[NdrActionKind]:
    return frozenset(a.kind for a in actions if a.state is NdrActionState.FAILED)
