"""In-memory repositories with the same unique keys and ordering as the SQL ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from application.ports.repositories import Attempt, ConversationQuery, InboxBacklog
from domain.conversation import Conversation, ConversationState
from domain.errors import Conflict
from domain.messages import CustomerReply, DeliveryReport, MessageKind, OutgoingMessage
from domain.ndr import NdrAction, NdrActionKind
from domain.outcomes import NO_ANSWER, ShipmentEvent, Verdict
from domain.reason_rules import ReasonRule
from domain.reasons import FdrReason
from domain.records import (
    FdrEventRecord,
    LinkClick,
    WebhookDelivery,
    WebhookProblem,
    within_bytes,
)
from domain.scheduling import JobCounts, JobState, ScheduledJob
from domain.settings import ChannelSetting
from domain.status import MessageStatus
from domain.templates import WaTemplate
from infrastructure.memory.store import InMemoryStore, Tables


class _Repo:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    @property
    def _t(self) -> Tables:
        return self._store.tables


class InMemoryConversationRepository(_Repo):
    async def add(self, conversation: Conversation) -> Conversation | None:
        if await self.get_by_attempt(conversation.shipment_id, conversation.status_log_id):
            return None
        stored = dataclasses.replace(conversation, id=self._t.new_id())
        self._t.conversations[stored.id or 0] = stored
        return dataclasses.replace(stored)

    async def get(self, conversation_id: int) -> Conversation | None:
        found = self._t.conversations.get(conversation_id)
        return None if found is None else dataclasses.replace(found)

    async def get_by_attempt(self, shipment_id: int, status_log_id: int) -> Conversation | None:
        for c in self._t.conversations.values():
            if c.shipment_id == shipment_id and c.status_log_id == status_log_id:
                return dataclasses.replace(c)
        return None

    async def latest_for_shipment(self, shipment_id: int) -> Conversation | None:
        matching = [c for c in self._t.conversations.values() if c.shipment_id == shipment_id]
        if not matching:
            return None
        return dataclasses.replace(max(matching, key=lambda c: (c.status_log_id, c.id or 0)))

    async def latest_for_shopper(
        self, customer_phone: str, user_id: str | None, connection_id: int
    ) -> Conversation | None:
        matching = [
            c
            for c in self._t.conversations.values()
            if c.sender_connection_id == connection_id
            and (
                (customer_phone and c.customer_phone == customer_phone)
                or (user_id and c.customer_user_id == user_id)
            )
        ]
        if not matching:
            return None
        return dataclasses.replace(max(matching, key=lambda c: c.id or 0))

    async def remember_user_id(self, conversation_id: int, user_id: str) -> None:
        found = self._t.conversations.get(conversation_id)
        if found is not None and found.customer_user_id is None:
            found.customer_user_id = user_id

    async def count_started(self, account_id: int, since: datetime) -> int:
        return sum(
            1
            for c in self._t.conversations.values()
            if c.account_id == account_id and c.created_at >= since
        )

    async def shopper_language(self, customer_phone: str) -> str | None:
        return self._t.shopper_languages.get(customer_phone)

    async def remember_language(self, customer_phone: str, language: str, now: datetime) -> None:
        self._t.shopper_languages[customer_phone] = language

    async def get_many(self, conversation_ids: Collection[int]) -> dict[int, Conversation]:
        return {
            i: dataclasses.replace(self._t.conversations[i])
            for i in conversation_ids
            if i in self._t.conversations
        }

    async def update(self, conversation: Conversation) -> None:
        assert conversation.id is not None
        self._t.conversations[conversation.id] = dataclasses.replace(conversation)

    async def move(
        self,
        conversation_id: int,
        state: ConversationState,
        allowed_from: Collection[ConversationState],
        updated_at: datetime,
    ) -> bool:
        stored = self._t.conversations.get(conversation_id)
        if stored is None or stored.state not in allowed_from:
            return False
        self._t.conversations[conversation_id] = dataclasses.replace(
            stored, state=state, updated_at=updated_at
        )
        return True

    async def set_root(self, conversation_id: int, root_message_id: str) -> bool:
        stored = self._t.conversations.get(conversation_id)
        if stored is None or stored.root_message_id is not None:
            return False
        self._t.conversations[conversation_id] = dataclasses.replace(
            stored, root_message_id=root_message_id
        )
        return True

    async def note_customer_message(self, conversation_id: int, at: datetime) -> None:
        stored = self._t.conversations.get(conversation_id)
        last = stored.last_customer_message_at if stored else None
        if stored is not None and (last is None or last < at):
            stored.last_customer_message_at = at

    async def mark_nudged(self, conversation_id: int, at: datetime) -> bool:
        stored = self._t.conversations.get(conversation_id)
        if stored is None or stored.nudged_at is not None:
            return False
        stored.nudged_at = stored.updated_at = at
        return True

    async def change_phone(self, conversation_id: int, phone: str, updated_at: datetime) -> None:
        stored = self._t.conversations.get(conversation_id)
        if stored is not None:
            stored.customer_phone, stored.updated_at = phone, updated_at

    async def search(self, query: ConversationQuery) -> list[Conversation]:
        def answered(c: Conversation) -> bool:
            kinds = {
                a.kind.value for a in self._t.ndr_actions.values() if a.conversation_id == c.id
            }
            if query.answer is None:
                return True
            return not kinds if query.answer == NO_ANSWER else query.answer in kinds

        def keep(c: Conversation) -> bool:
            return (
                answered(c)
                and c.account_id == query.account_id
                and (query.shipment_id is None or c.shipment_id == query.shipment_id)
                and (query.reason is None or c.reason == query.reason)
                and (query.state is None or c.state == query.state)
                and (query.created_from is None or c.created_at >= query.created_from)
                and (query.created_to is None or c.created_at < query.created_to)
                and (query.before_id is None or (c.id or 0) < query.before_id)
            )

        found = sorted(
            (c for c in self._t.conversations.values() if keep(c)),
            key=lambda c: c.id or 0,
            reverse=True,
        )
        return [dataclasses.replace(c) for c in found[: query.limit]]


class InMemoryOutgoingMessageRepository(_Repo):
    async def add(self, message: OutgoingMessage) -> OutgoingMessage:
        for m in self._t.messages.values():
            if m.client_ref == message.client_ref or (
                message.message_id is not None and m.message_id == message.message_id
            ):
                raise Conflict("duplicate outgoing message")
        stored = dataclasses.replace(message, id=self._t.new_id())
        self._t.messages[stored.id or 0] = stored
        return dataclasses.replace(stored)

    async def get(self, outgoing_id: int) -> OutgoingMessage | None:
        found = self._t.messages.get(outgoing_id)
        return None if found is None else dataclasses.replace(found)

    async def get_by_message_id(self, message_id: str) -> OutgoingMessage | None:
        return self._find(lambda m: m.message_id == message_id)

    async def get_many_by_message_ids(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        wanted = set(message_ids)
        return {
            m.message_id: dataclasses.replace(m)
            for m in self._t.messages.values()
            if m.message_id is not None and m.message_id in wanted
        }

    async def get_by_client_ref(self, client_ref: str) -> OutgoingMessage | None:
        return self._find(lambda m: m.client_ref == client_ref)

    async def update(self, message: OutgoingMessage) -> None:
        assert message.id is not None
        if message.message_id is not None:
            for other in self._t.messages.values():
                if other.id != message.id and other.message_id == message.message_id:
                    raise Conflict("duplicate message_id")
        self._t.messages[message.id] = dataclasses.replace(message)

    async def advance(self, message: OutgoingMessage) -> bool:
        assert message.id is not None
        stored = self._t.messages.get(message.id)
        if stored is None or stored.status not in message.status.predecessors():
            return False
        wamid = message.message_id or stored.message_id
        if stored.message_id not in (None, wamid):
            return False
        if wamid is not None and any(
            m.message_id == wamid and m.id != message.id for m in self._t.messages.values()
        ):
            return False  # the unique key refuses it, as the database's would
        self._t.messages[message.id] = dataclasses.replace(
            stored,
            message_id=wamid,
            status=message.status,
            error_code=message.error_code,
            error_title=message.error_title,
            external_updated_at=message.external_updated_at,
            resent_at=message.resent_at,
            updated_at=message.updated_at,
        )
        return True

    async def advance_many(self, messages: Sequence[OutgoingMessage]) -> set[int]:
        return {m.id for m in messages if m.id is not None and await self.advance(m)}

    async def claim_unknown(self, older_than: datetime, limit: int) -> list[OutgoingMessage]:
        due = [
            m
            for m in self._t.messages.values()
            if m.kind is MessageKind.TEMPLATE
            and not m.is_reminder
            and m.updated_at < older_than
            and (
                m.status is MessageStatus.UNKNOWN
                or (m.status is MessageStatus.QUEUED and m.resent_at is not None)
            )
        ]
        return [dataclasses.replace(m) for m in sorted(due, key=lambda m: m.updated_at)[:limit]]

    async def count_unknown(self, now: datetime, ages: Sequence[float]) -> list[int]:
        counts = [0] * (len(ages) + 1)
        for m in self._t.messages.values():
            if (
                m.kind is MessageKind.TEMPLATE
                and not m.is_reminder
                and m.status is MessageStatus.UNKNOWN
            ):
                age = now - m.updated_at
                band = next(
                    (i for i, a in enumerate(ages) if age < timedelta(seconds=a)), len(ages)
                )
                counts[band] += 1
        return counts

    async def for_conversation(self, conversation_id: int) -> list[OutgoingMessage]:
        return [
            dataclasses.replace(m)
            for m in sorted(self._t.messages.values(), key=lambda m: m.id or 0)
            if m.conversation_id == conversation_id
        ]

    def _find(self, predicate: object) -> OutgoingMessage | None:
        assert callable(predicate)
        for m in self._t.messages.values():
            if predicate(m):
                return dataclasses.replace(m)
        return None


class InMemoryDeliveryReportRepository(_Repo):
    async def add_many(self, reports: Sequence[DeliveryReport]) -> list[DeliveryReport]:
        fresh: list[DeliveryReport] = []
        for report in reports:
            key = (report.message_id, report.status.value)
            if key in self._t.delivery_reports:
                continue
            stored = dataclasses.replace(report, id=self._t.new_id())
            self._t.delivery_reports[key] = stored
            fresh.append(report)
        return fresh

    async def for_message(self, message_id: str) -> list[DeliveryReport]:
        return sorted(
            (r for r in self._t.delivery_reports.values() if r.message_id == message_id),
            key=lambda r: r.id or 0,
        )

    async def link(self, message_id: str, outgoing_id: int) -> int:
        linked = 0
        for key, r in list(self._t.delivery_reports.items()):
            if r.message_id == message_id and r.wa_outgoing_message_id is None:
                self._t.delivery_reports[key] = dataclasses.replace(
                    r, wa_outgoing_message_id=outgoing_id
                )
                linked += 1
        return linked


class InMemoryCustomerReplyRepository(_Repo):
    async def add(self, reply: CustomerReply) -> CustomerReply | None:
        if reply.reply_message_id in self._t.replies:
            return None
        stored = dataclasses.replace(reply, id=self._t.new_id())
        self._t.replies[reply.reply_message_id] = stored
        return stored

    async def get(self, reply_message_id: str) -> CustomerReply | None:
        return self._t.replies.get(reply_message_id)

    async def update(self, reply: CustomerReply) -> None:
        stored = self._t.replies.get(reply.reply_message_id)
        if stored is not None:
            self._t.replies[reply.reply_message_id] = dataclasses.replace(
                stored,
                wa_context_outgoing_message_id=reply.wa_context_outgoing_message_id,
                wa_root_outgoing_message_id=reply.wa_root_outgoing_message_id,
                decision=reply.decision,
                handled_at=reply.handled_at,
            )

    async def for_root(self, root_outgoing_id: int) -> list[CustomerReply]:
        return sorted(
            (
                r
                for r in self._t.replies.values()
                if r.wa_root_outgoing_message_id == root_outgoing_id
            ),
            key=lambda r: r.id or 0,
        )


class InMemoryTemplateRepository(_Repo):
    async def add(self, template: WaTemplate) -> WaTemplate:
        self._check_unique(template)
        stored = dataclasses.replace(template, id=self._t.new_id())
        self._t.templates[stored.id or 0] = stored
        return dataclasses.replace(stored)

    async def get(self, template_id: int) -> WaTemplate | None:
        found = self._t.templates.get(template_id)
        return None if found is None else dataclasses.replace(found)

    async def update(self, template: WaTemplate) -> None:
        assert template.id is not None
        if template.id not in self._t.templates:
            return
        self._check_unique(template)
        created = self._t.templates[template.id].created_at
        self._t.templates[template.id] = dataclasses.replace(template, created_at=created)

    async def delete(self, template_id: int) -> bool:
        return self._t.templates.pop(template_id, None) is not None

    async def for_account(self, account_id: int) -> list[WaTemplate]:
        return [
            dataclasses.replace(t)
            for t in sorted(self._t.templates.values(), key=lambda t: t.id or 0)
            if t.account_id == account_id
        ]

    async def default_for(self, account_id: int, reason: FdrReason) -> WaTemplate | None:
        for t in await self.for_account(account_id):
            if t.reason == reason:
                return t
        return None

    async def verified_as(self, meta_template_id: str) -> list[WaTemplate]:
        return [
            dataclasses.replace(t)
            for t in sorted(self._t.templates.values(), key=lambda t: t.id or 0)
            if t.meta_template_id == meta_template_id
        ]

    def _check_unique(self, template: WaTemplate) -> None:
        for other in self._t.templates.values():
            if (
                other.id != template.id
                and other.account_id == template.account_id
                and other.template_name == template.template_name
                and other.language == template.language
            ):
                raise Conflict(
                    f"template {template.template_name!r} ({template.language}) exists already"
                )


class InMemoryChannelSettingRepository(_Repo):
    async def get(self, account_id: int) -> ChannelSetting | None:
        return self._t.settings.get(account_id)

    async def save(self, setting: ChannelSetting) -> None:
        self._t.settings[setting.account_id] = dataclasses.replace(
            setting,
            templates=dict(setting.templates),
            default_actions=dict(setting.default_actions),
        )


class InMemoryReasonRuleRepository(_Repo):
    async def all(self) -> list[ReasonRule]:
        return list(self._t.reason_rules)


class InMemoryFdrEventRepository(_Repo):
    async def add(self, record: FdrEventRecord) -> FdrEventRecord | None:
        if record.event_key in self._t.fdr_events:
            return None
        stored = dataclasses.replace(record, id=self._t.new_id())
        self._t.fdr_events[record.event_key] = stored
        return stored

    async def get(self, event_key: str) -> FdrEventRecord | None:
        return self._t.fdr_events.get(event_key)

    async def update(self, record: FdrEventRecord) -> None:
        existing = self._t.fdr_events.get(record.event_key)
        if existing is not None:
            self._t.fdr_events[record.event_key] = dataclasses.replace(record, id=existing.id)


class InMemoryWebhookInboxRepository(_Repo):
    async def add(self, delivery: WebhookDelivery) -> WebhookDelivery:
        stored = dataclasses.replace(delivery, id=self._t.new_id())
        self._t.inbox[stored.id or 0] = stored
        return stored

    async def add_many(self, deliveries: Sequence[WebhookDelivery]) -> list[WebhookDelivery]:
        return [await self.add(d) for d in deliveries]

    async def pending(
        self,
        limit: int,
        received_before: datetime | None = None,
        max_bytes: int | None = None,
        now: datetime | None = None,
        claim_until: datetime | None = None,
    ) -> list[WebhookDelivery]:
        waiting = [
            d
            for d in self._t.inbox.values()
            if d.processed_at is None
            and (received_before is None or d.received_at < received_before)
            and (
                (d.error is None and claim_until is None)
                or now is None
                or d.retry_at is None
                or d.retry_at <= now
            )
        ]
        ordered = sorted(waiting, key=lambda d: (d.error is not None, d.id or 0))[:limit]
        taken = within_bytes(ordered, max_bytes, lambda d: len(d.body))
        if claim_until is not None:
            for d in taken:
                self._t.inbox[d.id or 0] = dataclasses.replace(d, retry_at=claim_until)
        return taken

    async def mark_processed(
        self, delivery_id: int, processed_at: datetime, error: str | None = None
    ) -> None:
        found = self._t.inbox.get(delivery_id)
        if found is not None:
            self._t.inbox[delivery_id] = dataclasses.replace(
                found, processed_at=processed_at, error=error
            )

    async def get(self, delivery_id: int) -> WebhookDelivery | None:
        return self._t.inbox.get(delivery_id)

    async def mark_waiting(self, delivery_id: int, error: str, retry_at: datetime) -> None:
        found = self._t.inbox.get(delivery_id)
        if found is not None:
            self._t.inbox[delivery_id] = dataclasses.replace(
                found, error=error, retry_at=retry_at, attempts=found.attempts + 1
            )

    async def add_problems(self, problems: Sequence[WebhookProblem]) -> int:
        added = 0
        for problem in problems:
            key = (problem.inbox_id, problem.element[:255], problem.kind)
            if key not in self._t.webhook_problems:
                self._t.webhook_problems[key] = problem
                added += 1
        return added

    async def problems(self, delivery_id: int) -> list[WebhookProblem]:
        return [p for p in self._t.webhook_problems.values() if p.inbox_id == delivery_id]

    async def with_errors(self, limit: int) -> list[int]:
        done = (
            d.id or 0
            for d in self._t.inbox.values()
            if d.processed_at is not None and d.error is not None
        )
        return sorted(done)[:limit]

    async def requeue(self, delivery_ids: Sequence[int]) -> int:
        found = 0
        for delivery_id in delivery_ids:
            delivery = self._t.inbox.get(delivery_id)
            if delivery is None:
                continue
            found += 1
            self._t.inbox[delivery_id] = dataclasses.replace(
                delivery, processed_at=None, error=None, attempts=0, retry_at=None
            )
            for key in [k for k in self._t.webhook_problems if k[0] == delivery_id]:
                del self._t.webhook_problems[key]
        return found

    async def backlog(self) -> InboxBacklog:
        pending = [d for d in self._t.inbox.values() if d.processed_at is None]
        oldest = min((d.received_at for d in pending), default=None)
        return InboxBacklog(pending=len(pending), oldest_received_at=oldest)

    async def purge_processed(self, processed_before: datetime, limit: int) -> int:
        done = sorted(
            (
                d
                for d in self._t.inbox.values()
                if d.processed_at is not None
                and d.processed_at < processed_before
                and d.error is None
            ),
            key=lambda d: (d.processed_at, d.id or 0),
        )[:limit]
        for delivery in done:
            self._t.inbox.pop(delivery.id or 0, None)
        return len(done)

    async def mark_many_processed(
        self, delivery_ids: Sequence[int], processed_at: datetime
    ) -> None:
        for delivery_id in delivery_ids:
            found = self._t.inbox.get(delivery_id)
            if found is not None:
                self._t.inbox[delivery_id] = dataclasses.replace(
                    found, processed_at=processed_at, error=None, retry_at=None
                )


class InMemoryNdrActionRepository(_Repo):
    async def add(self, action: NdrAction) -> NdrAction | None:
        key = (action.conversation_id, action.kind.value)
        if key in self._t.ndr_actions:
            return None
        stored = dataclasses.replace(action, id=self._t.new_id())
        self._t.ndr_actions[key] = stored
        return dataclasses.replace(stored)

    async def get_for(self, conversation_id: int, kind: NdrActionKind) -> NdrAction | None:
        found = self._t.ndr_actions.get((conversation_id, kind.value))
        return None if found is None else dataclasses.replace(found)

    async def update(self, action: NdrAction) -> None:
        key = (action.conversation_id, action.kind.value)
        if key in self._t.ndr_actions:
            self._t.ndr_actions[key] = dataclasses.replace(action)

    async def for_conversation(self, conversation_id: int) -> list[NdrAction]:
        return sorted(
            (
                dataclasses.replace(a)
                for a in self._t.ndr_actions.values()
                if a.conversation_id == conversation_id
            ),
            key=lambda a: a.id or 0,
        )


class InMemoryLinkClickRepository(_Repo):
    async def add(self, click: LinkClick) -> LinkClick:
        stored = dataclasses.replace(click, id=self._t.new_id())
        self._t.link_clicks[stored.id or 0] = stored
        return stored

    async def for_shipment(self, shipment_id: int) -> list[LinkClick]:
        return sorted(
            (c for c in self._t.link_clicks.values() if c.shipment_id == shipment_id),
            key=lambda c: c.id or 0,
        )


class InMemoryShipmentOutcomeRepository(_Repo):
    async def attempts(self, shipment_id: int, *, lock: bool = False) -> list[Attempt]:
        # The store's lock already serialises units of work.
        return sorted(
            (
                Attempt(c.id or 0, c.account_id, c.status_log_id, c.reason.value)
                for c in self._t.conversations.values()
                if c.shipment_id == shipment_id
            ),
            key=lambda a: a.status_log_id,
        )

    async def messaged(self, shipment_ids: Collection[int]) -> set[int]:
        wanted = set(shipment_ids)
        return {c.shipment_id for c in self._t.conversations.values() if c.shipment_id in wanted}

    async def add_event(self, event: ShipmentEvent, received_at: datetime) -> bool:
        key = (event.shipment_id, event.status_log_id)
        if key in self._t.shipment_events:
            return False
        self._t.shipment_events[key] = event
        return True

    async def events(self, shipment_id: int) -> list[ShipmentEvent]:
        return sorted(
            (e for e in self._t.shipment_events.values() if e.shipment_id == shipment_id),
            key=lambda e: e.status_log_id,
        )

    async def verdicts(self, conversation_ids: Collection[int]) -> dict[int, Verdict]:
        return {i: self._t.outcomes[i][2] for i in conversation_ids if i in self._t.outcomes}

    async def save(
        self, attempt: Attempt, shipment_id: int, verdict: Verdict, now: datetime
    ) -> None:
        self._t.outcomes[attempt.conversation_id] = (attempt.account_id, shipment_id, verdict)


class InMemoryScheduledJobRepository:
    """One writer at a time (the store's lock): a claim is never contended."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    @property
    def _jobs(self) -> dict[tuple[str, str], ScheduledJob]:
        return self._store.tables.scheduled_jobs

    async def schedule(self, job: ScheduledJob) -> bool:
        if (job.kind, job.key) in self._jobs:
            return False
        stored = dataclasses.replace(job, id=self._store.tables.new_id())
        stored.run_after = stored.run_after or stored.due_at
        stored.updated_at = stored.created_at
        self._jobs[(job.kind, job.key)] = stored
        return True

    async def get(self, kind: str, key: str) -> ScheduledJob | None:
        job = self._jobs.get((kind, key))
        return None if job is None else dataclasses.replace(job)

    async def claim_due(
        self, now: datetime, lease: timedelta, limit: int, kinds: Collection[str] | None = None
    ) -> list[ScheduledJob]:
        due = sorted(
            (
                j
                for j in self._jobs.values()
                if j.state is JobState.PENDING
                and j.run_after is not None
                and j.run_after <= now
                and (kinds is None or j.kind in kinds)
            ),
            key=lambda j: (j.run_after or now, j.id or 0),
        )[:limit]
        for job in due:
            job.run_after, job.claimed_at, job.attempts = now + lease, now, job.attempts + 1
            job.updated_at = now
        return [dataclasses.replace(j) for j in due]

    async def finish(self, jobs: Sequence[ScheduledJob], now: datetime) -> int:
        done = 0
        for job in jobs:
            stored = self._jobs.get((job.kind, job.key))
            if stored and stored.state is JobState.PENDING and stored.attempts == job.attempts:
                stored.state, stored.done_at, stored.updated_at = JobState.DONE, now, now
                done += 1
        return done

    async def retry(
        self, job: ScheduledJob, error: str, run_after: datetime | None, now: datetime
    ) -> bool:
        stored = self._jobs.get((job.kind, job.key))
        if not stored or stored.state is not JobState.PENDING or stored.attempts != job.attempts:
            return False
        stored.last_error, stored.updated_at = error[:2000], now
        if run_after is None:
            stored.state = JobState.FAILED
        else:
            stored.run_after = run_after
        return True

    async def cancel(self, kind: str, key: str, now: datetime) -> bool:
        stored = self._jobs.get((kind, key))
        if stored is None or stored.state is not JobState.PENDING:
            return False
        stored.state, stored.done_at, stored.updated_at = JobState.CANCELLED, now, now
        return True

    async def counts(self, now: datetime, overdue_after: timedelta) -> list[JobCounts]:
        due: dict[str, list[int]] = {}
        for job in self._jobs.values():
            if job.state is JobState.PENDING and job.due_at <= now:
                entry = due.setdefault(job.kind, [0, 0])
                entry[0] += 1
                entry[1] += job.due_at < now - overdue_after
        return [JobCounts(kind, d, o) for kind, (d, o) in sorted(due.items())]
