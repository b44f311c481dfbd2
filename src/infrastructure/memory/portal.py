"""The portal's read side over the in-memory store, answering as the SQL one does."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime

from application.ports.portal import (
    ConversationCount,
    ConversationListing,
    ConversationThread,
    EventCount,
    FunnelCounts,
    HeldEvent,
    OutcomeCount,
    OutcomeRow,
)
from application.ports.repositories import ConversationQuery
from domain.activity import Outcome
from domain.conversation import Conversation
from domain.cost import BilledMessage
from domain.messages import MessageKind, OutgoingMessage
from domain.ndr import NdrActionState
from domain.outcomes import NO_ANSWER, Verdict
from domain.reasons import FdrReason
from domain.scheduling import HELD_SEND, JobState
from infrastructure.memory.repositories import InMemoryConversationRepository
from infrastructure.memory.store import InMemoryStore, Tables


class InMemoryPortalQueries:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    @property
    def _t(self) -> Tables:
        return self._store.tables

    async def conversations(self, query: ConversationQuery) -> list[ConversationListing]:
        found = await InMemoryConversationRepository(self._store).search(query)
        listings = []
        for conversation in found:
            template = self._template_of(conversation)
            listings.append(
                ConversationListing(
                    conversation=conversation,
                    template_status=None if template is None else template.status,
                    error_code=None if template is None else template.error_code,
                    error_title=None if template is None else template.error_title,
                    verdict=self._verdict(conversation.id or 0),
                )
            )
        return listings

    async def thread(self, account_id: int, conversation_id: int) -> ConversationThread | None:
        conversation = self._t.conversations.get(conversation_id)
        if conversation is None or conversation.account_id != account_id:
            return None
        messages = sorted(
            (m for m in self._t.messages.values() if m.conversation_id == conversation_id),
            key=lambda m: m.id or 0,
        )
        ids = {m.id for m in messages}
        wamids = {m.message_id for m in messages if m.message_id}
        reports = sorted(
            (
                r
                for r in self._t.delivery_reports.values()
                if r.wa_outgoing_message_id in ids or r.message_id in wamids
            ),
            key=lambda r: (r.external_timestamp, r.id or 0),
        )
        replies = sorted(
            (r for r in self._t.replies.values() if r.wa_root_outgoing_message_id in ids),
            key=lambda r: r.id or 0,
        )
        actions = sorted(
            (a for a in self._t.ndr_actions.values() if a.conversation_id == conversation_id),
            key=lambda a: a.id or 0,
        )
        clicks = sorted(
            (c for c in self._t.link_clicks.values() if c.conversation_id == conversation_id),
            key=lambda c: c.id or 0,
        )
        return ConversationThread(
            conversation=dataclasses.replace(conversation),
            messages=tuple(dataclasses.replace(m) for m in messages),
            reports=tuple(reports),
            replies=tuple(replies),
            actions=tuple(dataclasses.replace(a) for a in actions),
            clicks=tuple(clicks),
            verdict=self._verdict(conversation_id),
        )

    async def billed(self, account_id: int, start: datetime, end: datetime) -> list[BilledMessage]:
        ours = {
            m.id
            for m in self._t.messages.values()
            if (c := self._t.conversations.get(m.conversation_id)) and c.account_id == account_id
        }
        found: dict[tuple[str, str, str], BilledMessage] = {}
        for report in sorted(self._t.delivery_reports.values(), key=lambda r: r.external_timestamp):
            pricing = report.pricing
            if (
                pricing is None
                or not pricing.billable
                or report.wa_outgoing_message_id not in ours
                or not start <= report.external_timestamp < end
            ):
                continue
            found.setdefault(
                (report.message_id, pricing.model, pricing.category),
                BilledMessage(
                    message_id=report.message_id,
                    pricing_model=pricing.model,
                    category=pricing.category,
                    conversation_id=pricing.conversation_id,
                    first_at=report.external_timestamp,
                ),
            )
        return list(found.values())

    async def held(self, account_id: int, limit: int) -> list[HeldEvent]:
        found = [
            r
            for r in self._t.fdr_events.values()
            if r.account_id == account_id and r.outcome is Outcome.HELD
        ]
        held = []
        for record in sorted(found, key=lambda r: (r.received_at, r.id or 0))[:limit]:
            job = self._t.scheduled_jobs.get((HELD_SEND, record.event_key))
            pending = job is not None and job.state is JobState.PENDING
            held.append(HeldEvent(record, job.due_at if job is not None and pending else None))
        return held

    async def funnel(self, account_id: int, start: datetime, end: datetime) -> FunnelCounts:
        events: Counter[tuple[str, Outcome, str | None]] = Counter()
        for record in self._t.fdr_events.values():
            if record.account_id == account_id and start <= record.received_at < end:
                why = None
                if record.outcome is Outcome.SKIPPED:
                    why = record.skip_reason or "other"
                events[(record.reason or FdrReason.UNKNOWN.value, record.outcome, why)] += 1
        groups: Counter[ConversationCount] = Counter()
        for conversation in self._t.conversations.values():
            if conversation.account_id == account_id and start <= conversation.created_at < end:
                groups[self._facts(conversation)] += 1
        return FunnelCounts(
            events=tuple(
                EventCount(reason=reason, outcome=outcome, skip_reason=why, count=n)
                for (reason, outcome, why), n in events.items()
            ),
            conversations=tuple(dataclasses.replace(g, count=n) for g, n in groups.items()),
        )

    async def outcomes(
        self, account_id: int, start: datetime, end: datetime
    ) -> tuple[OutcomeCount, ...]:
        groups: Counter[OutcomeCount] = Counter()
        for row in await self.outcome_rows(account_id, start, end, 0, len(self._t.conversations)):
            if row.conversation.root_message_id is None:
                continue
            verdict = row.verdict
            key = OutcomeCount(
                reason=row.conversation.reason,
                courier=row.conversation.courier,
                answer=row.answer,
                outcome=verdict.outcome if verdict else None,
                honoured=verdict.honoured if verdict else None,
                count=0,
            )
            groups[key] += 1
        return tuple(dataclasses.replace(g, count=n) for g, n in groups.items())

    async def outcome_rows(
        self, account_id: int, start: datetime, end: datetime, after_id: int, limit: int
    ) -> list[OutcomeRow]:
        found = sorted(
            (
                c
                for c in self._t.conversations.values()
                if c.account_id == account_id
                and start <= c.created_at < end
                and (c.id or 0) > after_id
            ),
            key=lambda c: c.id or 0,
        )[:limit]
        rows = []
        for conversation in found:
            stored = self._t.outcomes.get(conversation.id or 0)
            verdict = stored[2] if stored else None
            actions = [
                a for a in self._t.ndr_actions.values() if a.conversation_id == conversation.id
            ]
            latest = max(actions, key=lambda a: (a.created_at, a.id or 0), default=None)
            answer = verdict.answer if verdict else (latest.kind.value if latest else NO_ANSWER)
            rows.append(
                OutcomeRow(
                    conversation=dataclasses.replace(conversation), answer=answer, verdict=verdict
                )
            )
        return rows

    def _facts(self, conversation: Conversation) -> ConversationCount:
        """The conversation's group, with ``count`` 0 (the key of the counter)."""
        template = self._template_of(conversation)
        answered = template is not None and any(
            r.wa_root_outgoing_message_id == template.id for r in self._t.replies.values()
        )
        done = [
            a
            for a in self._t.ndr_actions.values()
            if a.conversation_id == conversation.id and a.state is NdrActionState.DONE
        ]
        reminded = any(
            m.conversation_id == conversation.id and m.is_reminder and m.message_id is not None
            for m in self._t.messages.values()
        )
        return ConversationCount(
            reason=conversation.reason,
            state=conversation.state,
            template_status=None if template is None else template.status,
            accepted=template is not None and template.message_id is not None,
            error_code=None if template is None else template.error_code,
            answered=answered,
            action_taken=bool(done),
            count=0,
            reminded=reminded,
            automatic_action=any(a.automatic for a in done),
        )

    def _verdict(self, conversation_id: int) -> Verdict | None:
        stored = self._t.outcomes.get(conversation_id)
        return stored[2] if stored else None

    def _template_of(self, conversation: Conversation) -> OutgoingMessage | None:
        templates = [
            m
            for m in self._t.messages.values()
            if m.conversation_id == conversation.id
            and m.kind is MessageKind.TEMPLATE
            and not m.is_reminder
        ]
        return min(templates, key=lambda m: m.id or 0) if templates else None
