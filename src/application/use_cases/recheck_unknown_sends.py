"""A template send whose outcome stayed unknown is sent once more, or failed with why.

Meta reports a status for every message it accepts, echoing our ``client_ref``: a send that
timed out and got no status within ``unknown_recheck_seconds`` almost certainly never
reached Meta. The due sends live in the database and are claimed with ``FOR UPDATE SKIP
LOCKED``, so any number of workers share the work and a restart loses none of it.

Rules: sent again at most once, and only while it may still help (``notify/second_look.py``;
the send and the corrected outcome in ``notify/corrections.py``);
an answered template reached Meta (``OutgoingMessage.reached_meta``); a given-up one fails its
conversation (``domain.conversation.template_move``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.sending import SendStep, settle_conversation
from application.services import (
    NotificationOptions,
    SenderResolver,
    SettingsReader,
)
from application.use_cases.notify.corrections import Corrections
from application.use_cases.notify.second_look import ANSWERED, why_not_again
from domain.activity import Outcome
from domain.conversation import Conversation
from domain.errors import UnreadableRecord
from domain.messages import OutgoingMessage
from domain.status import MessageStatus

_log = structlog.get_logger("unknown_sends")

#: Bounds of the age bands the unknown-sends gauge reports (seconds).
AGE_BANDS = (600.0, 3600.0, 6 * 3600.0, 24 * 3600.0)


@dataclass(frozen=True, slots=True)
class Rechecked:
    resent: int = 0
    failed: int = 0
    answered: int = 0
    #: Rows met that cannot be read (a zero date: docs/outages.md), their sends left as they
    #: are; the caller tells them (rate-limited: met again on every pass till a human mends).
    unreadable: tuple[UnreadableRecord, ...] = ()


class RecheckUnknownSends:
    def __init__(
        self,
        uow: UnitOfWork,
        settings: SettingsReader,
        senders: SenderResolver,
        step: SendStep,
        activity: ActivityPublisher,
        clock: Clock,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._settings = settings
        self._clock = clock
        self._options = options
        self._corrections = Corrections(uow, senders, step, activity, clock)

    async def __call__(self, limit: int = 100) -> Rechecked:
        now = self._clock.now()
        older_than = now - timedelta(seconds=self._options.unknown_recheck_seconds)
        to_send: list[tuple[OutgoingMessage, Conversation]] = []
        given_up: list[tuple[OutgoingMessage, Conversation | None]] = []
        answered = 0
        unreadable: list[UnreadableRecord] = []
        async with self._uow as uow:
            due, conversations = await _claim(uow, older_than, limit, unreadable)
            for message in due:
                conversation = conversations.get(message.conversation_id)
                if message.status is MessageStatus.QUEUED:  # taken before, never sent
                    if conversation is not None:
                        to_send.append((message, conversation))
                    continue
                why = await why_not_again(
                    uow, self._settings, self._options, message, conversation, now
                )
                if why is ANSWERED:
                    # The shopper answered its buttons: Meta had it, only its statuses are lost.
                    message.reached_meta(now)
                    if await uow.messages.advance(message):
                        answered += 1
                        why = "the shopper answered it: Meta had it"
                        await self._corrections.correct(
                            uow, message, conversation, Outcome.SENT, why, now
                        )
                elif why is not None:
                    message.fail(why, now)
                    if await uow.messages.advance(message):
                        await settle_conversation(uow, message, now)
                        await self._corrections.correct(
                            uow, message, conversation, Outcome.FAILED, why, now
                        )
                        given_up.append((message, conversation))
                else:
                    message.resend(now)
                    if await uow.messages.advance(message) and conversation is not None:
                        to_send.append((message, conversation))
            await uow.commit()
        for message, conversation in given_up:
            await self._corrections.publish(
                message, conversation, Outcome.FAILED, message.error_title, now
            )
        resent = 0
        for message, conversation in to_send:
            resent += await self._corrections.send_again(message, conversation)
        if resent or given_up or answered:
            _log.info(
                "unknown sends looked at again",
                resent=resent,
                failed=len(given_up),
                answered=answered,
            )
        return Rechecked(
            resent=resent,
            failed=len(given_up),
            answered=answered,
            unreadable=tuple(unreadable),
        )

    async def count_by_age(self) -> dict[str, int]:
        """Unknown template sends per age band, for the gauge (``<10m``, ... ``>=24h``)."""
        async with self._uow as uow:
            counts = await uow.messages.count_unknown(self._clock.now(), AGE_BANDS)
        labels = [f"<{_label(b)}" for b in AGE_BANDS] + [f">={_label(AGE_BANDS[-1])}"]
        return dict(zip(labels, counts, strict=True))


async def _claim(
    uow: UnitOfWork, older_than: datetime, limit: int, unreadable: list[UnreadableRecord]
) -> tuple[list[OutgoingMessage], dict[int, Conversation]]:
    """Up to ``limit`` due sends whose rows can be read, and their conversations. A send whose
    conversation cannot be read is left as it is; never changed, it stays the oldest, so the
    claim goes on past it as past a message that cannot be read (docs/outages.md, "A row
    with a zero date"): at most ``limit`` such sends passed in a pass. One claim when every
    row can be read."""
    due: list[OutgoingMessage] = []
    conversations: dict[int, Conversation] = {}
    leave_out: list[int] = []  # claimed by this transaction already: used or passed
    spoiled: set[int] = set()  # conversations that cannot be read: told once a pass
    while True:
        claimed = await uow.messages.claim_unknown(
            older_than, limit - len(due), unreadable, leave_out
        )
        readable, found = await _with_conversations(uow, claimed, unreadable, spoiled)
        due += readable
        conversations.update(found)
        leave_out += [m.id for m in claimed if m.id is not None]
        passed = len(leave_out) - len(due)
        if len(readable) == len(claimed) or len(due) >= limit or passed > limit:
            return due, conversations


async def _with_conversations(
    uow: UnitOfWork,
    due: list[OutgoingMessage],
    unreadable: list[UnreadableRecord],
    spoiled: set[int],
) -> tuple[list[OutgoingMessage], dict[int, Conversation]]:
    """The messages of ``due`` to look at, and their conversations, read in one go. When one
    of those cannot be read (a zero date, docs/outages.md), they are read one by one: the
    messages of a conversation that cannot be are left as they are, its id added to
    ``spoiled`` and its error to ``unreadable`` (once: those in ``spoiled`` are not read
    again)."""
    due = [m for m in due if m.conversation_id not in spoiled]
    ids = {m.conversation_id for m in due}
    try:
        return due, await uow.conversations.get_many(ids)
    except UnreadableRecord:
        pass
    found: dict[int, Conversation] = {}
    for conversation_id in sorted(ids):
        try:
            conversation = await uow.conversations.get(conversation_id)
        except UnreadableRecord as exc:
            spoiled.add(conversation_id)
            unreadable.append(UnreadableRecord(f"wa_conversations row {conversation_id}: {exc}"))
            continue
        if conversation is not None:
            found[conversation_id] = conversation
    return [m for m in due if m.conversation_id not in spoiled], found


def _label(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds / 60:g}m"
