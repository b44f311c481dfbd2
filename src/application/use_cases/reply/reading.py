"""The reads that bind and decide the answers of one pump pass, done once for all of them
(docs/webhooks.md, "Answers side by side").

Each answer was bound and decided on reads of its own: the message it quotes with its
conversation, the shipment's latest attempt, the conversation's NDR actions, the shopper's
language, four round trips each. Here they are read for the pass in four reads (``IN``),
before the answers' transactions, and each answer takes its own from them. Those reads take
no lock, at READ COMMITTED, so a read a few milliseconds earlier is as good as one inside the
transaction; what an answer writes is still guarded as before (the reply's and the action's
unique keys, the move's compare-and-set, which reads again when the conversation moved).

Only a shopper's first answer of the pass reads ahead: a second one must see what the first
wrote (``ProcessWebhooks`` gives the others ``NO_READS``), and so must a body taken again.
Anything not read ahead (another conversation than the quoted one's, a language just
chosen) is read in the answer's own transaction, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from application.ports.repositories import UnitOfWork
from domain.conversation import Conversation
from domain.messages import OutgoingMessage
from domain.ndr import NdrAction

Quoted = tuple[OutgoingMessage, Conversation | None]
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class ReadAhead:
    """What was read for the pass; each lookup falls back to ``uow`` for what was not."""

    quoted: dict[str, Quoted | None] = field(default_factory=dict)  # by wamid
    latest: dict[int, Conversation | None] = field(default_factory=dict)  # by shipment
    actions: dict[int, list[NdrAction]] = field(default_factory=dict)  # by conversation
    languages: dict[str, str | None] = field(default_factory=dict)  # by shopper's phone

    @classmethod
    async def of(cls, uow: UnitOfWork, wamids: Iterable[str]) -> ReadAhead:
        """The reads for answers quoting ``wamids``, inside ``uow``'s transaction."""
        asked = set(wamids)
        found = await uow.messages.get_many_with_conversations(asked)
        conversations = [c for _, c in found.values() if c is not None and c.id is not None]
        shipments = {c.shipment_id for c in conversations}
        latest = await uow.conversations.latest_for_shipments(shipments)
        phones = {c.customer_phone for c in conversations}
        languages = await uow.conversations.shopper_languages(phones)
        actions = await uow.ndr_actions.for_conversations(
            {c.id for c in conversations if c.id is not None}
        )
        return cls(
            quoted={w: found.get(w) for w in asked},
            latest={s: latest.get(s) for s in shipments},
            actions=actions,
            languages={p: languages.get(p) for p in phones},
        )

    async def quoted_message(self, uow: UnitOfWork, wamid: str) -> Quoted | None:
        """A copy of what was read ahead (an answer changes its conversation as it moves it:
        an answer that reads it after a failed try must find it as read)."""
        if wamid not in self.quoted:
            return await uow.messages.get_with_conversation(wamid)
        found = self.quoted[wamid]
        if found is None:
            return None
        message, conversation = found
        return replace(message), None if conversation is None else replace(conversation)

    async def latest_for_shipment(self, uow: UnitOfWork, shipment_id: int) -> Conversation | None:
        return await _or_read(self.latest, shipment_id, uow.conversations.latest_for_shipment)

    async def actions_of(self, uow: UnitOfWork, conversation_id: int) -> list[NdrAction]:
        return await _or_read(self.actions, conversation_id, uow.ndr_actions.for_conversation)

    async def language_of(self, uow: UnitOfWork, customer_phone: str) -> str | None:
        return await _or_read(self.languages, customer_phone, uow.conversations.shopper_language)


async def _or_read(found: Mapping[K, V], key: K, read: Callable[[K], Awaitable[V]]) -> V:
    """What was read ahead for ``key``, else ``read`` now."""
    return found[key] if key in found else await read(key)


#: Nothing read ahead: every read in the answer's own transaction.
NO_READS = ReadAhead()
