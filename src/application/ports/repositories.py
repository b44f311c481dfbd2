"""Storage ports: one repository per aggregate and the unit of work that owns the transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from application.ports.scheduler import ScheduledJobRepository
from domain.conversation import Conversation, ConversationState
from domain.errors import UnreadableRecord
from domain.messages import CustomerReply, DeliveryReport, OutgoingMessage
from domain.ndr import NdrAction, NdrActionKind
from domain.opt_out import OptOut, OptOutScope
from domain.outcomes import ShipmentEvent, Verdict
from domain.reason_rules import ReasonRule
from domain.reasons import FdrReason
from domain.records import FdrEventRecord, LinkClick, WebhookDelivery, WebhookProblem
from domain.settings import ChannelSetting
from domain.templates import WaTemplate


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationQuery:
    account_id: int
    shipment_id: int | None = None
    reason: FdrReason | None = None
    state: ConversationState | None = None
    # What the shopper chose: an NDR action kind asked of the ESB (whatever the ESB answered),
    # or ``no_answer`` (domain.outcomes.NO_ANSWER) for a conversation without any.
    answer: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    before_id: int | None = None  # cursor: newest first, strictly older than this id
    limit: int = 50


@dataclass(frozen=True, slots=True)
class NotedMove:
    """A conversation moved from ``before`` to ``state`` (a compare-and-set), the shopper's
    message at ``noted_at`` noted with it (``ConversationRepository.move``)."""

    conversation_id: int
    state: ConversationState
    before: ConversationState
    noted_at: datetime


class ConversationRepository(Protocol):
    async def add(self, conversation: Conversation) -> Conversation | None:
        """Stores a new conversation; None when one exists for the same shipment and attempt."""

    async def add_many(self, conversations: Sequence[Conversation]) -> list[Conversation | None]:
        """``add`` for each, in their order, in as few statements as the database allows; a
        conversation refused by its unique key is None there, and only that one."""

    async def get(self, conversation_id: int) -> Conversation | None: ...

    async def get_by_attempt(self, shipment_id: int, status_log_id: int) -> Conversation | None: ...

    async def latest_for_shipment(self, shipment_id: int) -> Conversation | None:
        """The newest failed attempt of the shipment (highest status log id)."""

    async def latest_for_shipments(self, shipment_ids: Collection[int]) -> dict[int, Conversation]:
        """``latest_for_shipment`` of each (one read); a shipment of none is no key."""

    async def for_shipments(self, shipment_ids: Collection[int]) -> list[Conversation]:
        """Every conversation (attempt) of these shipments, in one read."""

    async def latest_for_shopper(
        self, customer_phone: str, user_id: str | None, connection_id: int
    ) -> Conversation | None:
        """The newest conversation sent through ``connection_id`` to this shopper, named by
        number or by business-scoped user id."""

    async def remember_user_id(self, conversation_id: int, user_id: str) -> None:
        """Keeps the shopper's user id when the conversation has none yet."""

    async def count_started(self, account_id: int, since: datetime) -> int:
        """How many conversations (templates) the workspace started from ``since`` on."""

    async def shopper_language(self, customer_phone: str) -> str | None:
        """The language the shopper with this number chose (any workspace), if any."""

    async def shopper_languages(self, customer_phones: Collection[str]) -> dict[str, str]:
        """``shopper_language`` of each number (one read); numbers with none are left out."""

    async def remember_language(self, customer_phone: str, language: str, now: datetime) -> None:
        """Keeps the shopper's language choice for every later message to the number."""

    async def get_many(self, conversation_ids: Collection[int]) -> dict[int, Conversation]: ...

    async def update(self, conversation: Conversation) -> None: ...

    async def move(
        self,
        conversation_id: int,
        state: ConversationState,
        allowed_from: Collection[ConversationState],
        updated_at: datetime,
        noted_at: datetime | None = None,
    ) -> bool:
        """Sets ``state`` only while the stored state is one of ``allowed_from`` (a
        compare-and-set at the database); False when another writer moved it first.
        ``noted_at``: ``note_customer_message`` in the same statement, when it moves."""

    async def set_root(self, conversation_id: int, root_message_id: str) -> bool:
        """Sets the root (the template's wamid) only while it is unset."""

    async def set_roots(self, roots: Mapping[int, str]) -> None:
        """``set_root`` of each conversation id to its wamid, in as few statements as the
        database allows."""

    async def move_many(
        self,
        conversation_ids: Collection[int],
        state: ConversationState,
        allowed_from: Collection[ConversationState],
        updated_at: datetime,
    ) -> int:
        """``move`` of each (its own compare-and-set), in one statement; how many moved."""

    async def move_noted_many(self, moves: Sequence[NotedMove], updated_at: datetime) -> int:
        """``move`` of each with its ``noted_at`` (each its own compare-and-set), in one
        statement; how many moved."""

    async def note_customer_message(self, conversation_id: int, at: datetime) -> None:
        """``last_customer_message_at`` moves only forward."""

    async def mark_nudged(self, conversation_id: int, at: datetime) -> bool:
        """Spends the conversation's one nudge; False when it was spent already."""

    async def change_phone(self, conversation_id: int, phone: str, updated_at: datetime) -> None:
        """The shopper moved to a new number (Meta's ``user_changed_number``)."""

    async def search(self, query: ConversationQuery) -> list[Conversation]: ...


class OutgoingMessageRepository(Protocol):
    async def add(self, message: OutgoingMessage) -> OutgoingMessage:
        """Raises ``Conflict`` when the client_ref or message_id is stored already."""

    async def add_many(self, messages: Sequence[OutgoingMessage]) -> list[OutgoingMessage]:
        """``add`` for each, in their order, in as few statements as the database allows;
        raises ``Conflict`` as ``add`` does (the transaction is then the caller's to drop)."""

    async def get(self, outgoing_id: int) -> OutgoingMessage | None: ...

    async def get_by_message_id(self, message_id: str) -> OutgoingMessage | None: ...

    async def get_with_conversation(
        self, message_id: str
    ) -> tuple[OutgoingMessage, Conversation | None] | None:
        """The message with this wamid and its conversation, in one read (None: no such
        message)."""

    async def get_many_with_conversations(
        self, message_ids: Collection[str]
    ) -> dict[str, tuple[OutgoingMessage, Conversation | None]]:
        """``get_with_conversation`` of each (one read); a wamid of no message is no key."""

    async def get_many_by_message_ids(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]: ...

    async def get_many_for_statuses(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        """``get_many_by_message_ids`` without the request body (``payload`` is ""): the
        status pass's read, which neither reads nor writes it (never given to ``update``)."""

    async def lock_many_by_message_ids(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        """``get_many_by_message_ids`` as a locking read (``FOR UPDATE``): a row another
        transaction is writing is waited for and read as it commits it (docs/sending.md,
        "Statuses ahead of Meta's answer"). SQLite runs one writer at a time: a plain read."""

    async def claim_by_message_ids(
        self, message_ids: Collection[str]
    ) -> dict[str, OutgoingMessage]:
        """``lock_many_by_message_ids`` that skips what another transaction holds (``FOR
        UPDATE SKIP LOCKED``): the sweep of unlinked statuses takes the messages no worker,
        status pass or other sweep is writing (docs/sending.md). A plain read on SQLite."""

    async def get_by_client_ref(self, client_ref: str) -> OutgoingMessage | None: ...

    async def update(self, message: OutgoingMessage) -> None: ...

    async def advance(self, message: OutgoingMessage) -> bool:
        """Writes ``message``'s status (with its error, Meta's time, ``resent_at`` and its
        wamid where none is stored) only while the stored status is one of
        ``message.status.predecessors()`` and the stored wamid is unset or the same: a
        compare-and-set, never a whole-row overwrite. False when another writer got there
        first (read the row again to see what it holds)."""

    async def advance_many(self, messages: Sequence[OutgoingMessage]) -> set[int]:
        """``advance`` for each of them (at most one per row), in as few statements as the
        database allows; the ids of those written."""

    async def claim_unknown(
        self,
        older_than: datetime,
        limit: int,
        unreadable: list[UnreadableRecord],
        leave_out: list[int] | None = None,
    ) -> list[OutgoingMessage]:
        """Template messages due for a second look, locked for this transaction and skipped
        by any other (``FOR UPDATE SKIP LOCKED``): ``unknown`` ones not touched since
        ``older_than``, and ``queued`` ones taken to be sent again that were left waiting
        as long (their worker stopped). A row that cannot be read (a zero date) is left
        out, its error added to ``unreadable`` and its id to ``leave_out``: it never stops
        the others. ``leave_out``: ids of rows this transaction claimed already, not taken
        again (a claim that goes on past rows the caller could not use)."""

    async def count_unknown(self, now: datetime, ages: Sequence[float]) -> list[int]:
        """How many template sends are ``unknown``, per age band: ``ages`` are ascending
        bounds in seconds; the result has one count more than ``ages`` (the oldest band)."""

    async def for_conversation(self, conversation_id: int) -> list[OutgoingMessage]: ...


class DeliveryReportRepository(Protocol):
    async def add_many(self, reports: Sequence[DeliveryReport]) -> list[DeliveryReport]:
        """Stores reports new by (message id, status); returns the ones stored."""

    async def for_message(self, message_id: str) -> list[DeliveryReport]: ...

    async def link(self, message_id: str, outgoing_id: int) -> int:
        """Attaches reports that arrived before their message was known; returns how many."""

    async def unlinked(self, message_ids: Collection[str]) -> set[str]:
        """Which of these wamids have reports not attached to a message yet (one read)."""

    async def unlinked_with_message(
        self, since: datetime, until: datetime, limit: int
    ) -> list[str]:
        """The wamids of reports stored unlinked in ``[since, until)`` whose message is stored
        now (one read of at most ``limit`` reports, in the order they were stored; each wamid
        once): what the sweep links (docs/sending.md, "Statuses ahead of Meta's answer")."""


class CustomerReplyRepository(Protocol):
    async def add(self, reply: CustomerReply) -> CustomerReply | None:
        """None when a reply with the same ``message_id`` is stored already."""

    async def add_many(self, replies: Sequence[CustomerReply]) -> list[CustomerReply | None]:
        """``add`` for each, in their order, in as few statements as the database allows."""

    async def get(self, message_id: str) -> CustomerReply | None: ...

    async def update(self, reply: CustomerReply) -> None:
        """Saves the decision, the handled time and the root link."""

    async def close_many(self, message_ids: Collection[str], handled_at: datetime) -> None:
        """The replies with these wamids handled at ``handled_at`` (one statement)."""

    async def for_root(self, root_id: int) -> list[CustomerReply]: ...


class TemplateRepository(Protocol):
    async def add(self, template: WaTemplate) -> WaTemplate: ...

    async def get(self, template_id: int) -> WaTemplate | None: ...

    async def update(self, template: WaTemplate) -> None: ...

    async def delete(self, template_id: int) -> bool: ...

    async def for_account(self, account_id: int) -> list[WaTemplate]: ...

    async def default_for(self, account_id: int, reason: FdrReason) -> WaTemplate | None:
        """The account's template marked for ``reason`` (the shipped defaults live on the
        default account)."""

    async def verified_as(self, meta_template_id: str) -> list[WaTemplate]:
        """Every workspace's template verified against this Meta template id (in id order)."""


class ChannelSettingRepository(Protocol):
    async def get(self, account_id: int) -> ChannelSetting | None: ...

    async def save(self, setting: ChannelSetting) -> None: ...

    async def lock_cap(self, account_id: int) -> int | None:
        """The workspace's monthly template cap as committed now (None: no cap, or no
        settings), its settings row locked until the transaction ends: the transactions that
        record the workspace's new conversations under its cap go one at a time
        (docs/cost.md, "The monthly cap")."""
        ...


class ReasonRuleRepository(Protocol):
    async def all(self) -> list[ReasonRule]: ...


class FdrEventRepository(Protocol):
    async def add(self, record: FdrEventRecord) -> FdrEventRecord | None:
        """None when the same ``event_key`` was recorded already."""

    async def add_many(self, records: Sequence[FdrEventRecord]) -> list[FdrEventRecord | None]:
        """``add`` for each, in their order, in as few statements as the database allows; a
        record whose key was recorded already is None there, and only that one."""

    async def get(self, event_key: str) -> FdrEventRecord | None: ...

    async def recorded(self, event_keys: Collection[str]) -> set[str]:
        """Which of these event keys have a record (one read)."""

    async def update(self, record: FdrEventRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class InboxBacklog:
    pending: int
    oldest_received_at: datetime | None  # None: nothing pending


class WebhookInboxRepository(Protocol):
    async def add(self, delivery: WebhookDelivery) -> WebhookDelivery: ...

    async def add_many(self, deliveries: Sequence[WebhookDelivery]) -> list[WebhookDelivery]:
        """All of them, in one statement where the database allows; returned in the order
        given, each with its new id (ids ascend in that order)."""

    async def pending(
        self,
        limit: int,
        received_before: datetime | None = None,
        max_bytes: int | None = None,
        now: datetime | None = None,
        claim_until: datetime | None = None,
    ) -> list[WebhookDelivery]:
        """Oldest first, those waiting for a retry (``error`` set) after the fresh ones, and
        with ``now`` only those whose ``retry_at`` has come; only those received before
        ``received_before`` when given. With ``max_bytes``, no more bodies than fit in that
        many bytes together (always at least one).

        With ``claim_until`` the bodies returned are claimed until then (their ``retry_at``,
        once the transaction commits): another process's claiming ``pending`` with ``now``
        skips them meanwhile, and skips the rows a claim in flight holds, so several ``serve``
        processes share the bodies instead of each doing all of them."""

    async def get(self, delivery_id: int) -> WebhookDelivery | None: ...

    async def mark_processed(
        self, delivery_id: int, processed_at: datetime, error: str | None = None
    ) -> None: ...

    async def mark_waiting(self, delivery_id: int, error: str, retry_at: datetime) -> None:
        """Leaves it pending, behind the fresh ones and not before ``retry_at``, with why it
        waits; counts the attempt."""

    async def add_problems(self, problems: Sequence[WebhookProblem]) -> int:
        """Records elements not applied; one row per (body, element, kind). Returns how many
        were new (a body processed again does not record, or alert, twice)."""

    async def delivered_before(
        self, delivery: WebhookDelivery, problem: WebhookProblem
    ) -> int | None:
        """Another body with the same bytes, from the same connection, that recorded
        ``problem`` (its element and kind): Meta delivered the body again (it re-sends a body
        when our 200 was slow), and that one was closed first (earlier or later: pumps share
        the bodies). Its id, or None. Looked for among the latest bodies with that
        problem (a bounded walk of the problems' index), not in the whole inbox."""

    async def problems(self, delivery_id: int) -> list[WebhookProblem]: ...

    async def with_errors(self, limit: int) -> list[int]:
        """Processed bodies that carry an error (unreadable, given up, elements not applied),
        oldest first."""

    async def requeue(self, delivery_ids: Sequence[int]) -> int:
        """Makes processed bodies pending again, as fresh, their problems forgotten (they are
        recorded again if they still happen). Returns how many were found."""

    async def mark_many_processed(
        self, delivery_ids: Sequence[int], processed_at: datetime
    ) -> None:
        """Done without error (a "waiting" note from an earlier pass is cleared)."""

    async def backlog(self) -> InboxBacklog:
        """How many bodies wait to be processed, and since when (for the operators)."""

    async def purge_processed(self, processed_before: datetime, limit: int) -> int:
        """Deletes up to ``limit`` bodies processed without error before ``processed_before``
        (those with an error stay for a human); returns how many went."""


class NdrActionRepository(Protocol):
    async def add(self, action: NdrAction) -> NdrAction | None:
        """None when the conversation already has an action of that kind."""

    async def add_many(self, actions: Sequence[NdrAction]) -> list[NdrAction | None]:
        """``add`` for each, in their order, in as few statements as the database allows."""

    async def get_for(self, conversation_id: int, kind: NdrActionKind) -> NdrAction | None: ...

    async def update(self, action: NdrAction) -> None: ...

    async def for_conversation(self, conversation_id: int) -> list[NdrAction]: ...

    async def for_conversations(
        self, conversation_ids: Collection[int]
    ) -> dict[int, list[NdrAction]]:
        """``for_conversation`` of each (one read), every id a key."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """A notified failed attempt of a shipment: the conversation an outcome belongs to."""

    conversation_id: int
    account_id: int
    status_log_id: int
    reason: str = ""


class ShipmentOutcomeRepository(Protocol):
    """The shipment events after notified attempts and each conversation's outcome
    (docs/outcomes.md)."""

    async def attempts(self, shipment_id: int, *, lock: bool = False) -> list[Attempt]:
        """The shipment's conversations, oldest attempt first; with ``lock`` their rows stay
        locked to this transaction (the outcomes of one shipment are written one at a time)."""

    async def messaged(self, shipment_ids: Collection[int]) -> set[int]:
        """Those of ``shipment_ids`` that have a conversation (one indexed read for all)."""

    async def first_attempts(self, shipment_ids: Collection[int]) -> dict[int, int]:
        """Per shipment of ``shipment_ids`` with a conversation, its oldest attempt's status
        log id (one indexed read for all)."""

    async def add_event(self, event: ShipmentEvent, received_at: datetime) -> bool:
        """False when the shipment's event with that ``status_log_id`` is stored already."""

    async def events(self, shipment_id: int) -> list[ShipmentEvent]: ...

    async def verdicts(self, conversation_ids: Collection[int]) -> dict[int, Verdict]: ...

    async def save(
        self, attempt: Attempt, shipment_id: int, verdict: Verdict, now: datetime
    ) -> None:
        """Stores the conversation's outcome, replacing the one it had."""


class LinkClickRepository(Protocol):
    async def add(self, click: LinkClick) -> LinkClick: ...

    async def for_shipment(self, shipment_id: int) -> list[LinkClick]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class UnreachableSignal:
    """One ``whatsapp_unreachable`` event, recorded before it is published."""

    key: str
    account_id: int | None
    shipment_id: int | None
    conversation_id: int | None
    why: str
    error_code: int | None = None
    created_at: datetime


class OptOutRepository(Protocol):
    async def get(self, opt_out_id: int) -> OptOut | None: ...

    async def find(self, account_id: int, phone: str, scope: OptOutScope) -> OptOut | None: ...

    async def save(self, opt_out: OptOut) -> OptOut:
        """Stores the workspace's row for the number and scope (one each), new or changed."""

    async def is_opted_out(self, account_id: int, phone: str) -> bool:
        """Whether the number stopped every message of the workspace (scope ``all``)."""

    async def opted_out_among(self, numbers: Collection[tuple[int, str]]) -> set[tuple[int, str]]:
        """``is_opted_out`` of each (workspace, number) pair, in one read: those opted out."""

    async def for_account(
        self, account_id: int, *, before_id: int | None, limit: int
    ) -> list[OptOut]:
        """The workspace's active opt-outs, newest first, strictly older than ``before_id``."""

    async def add_signal(self, signal: UnreachableSignal) -> bool:
        """Records the signal; False when one with its key was recorded before."""


class UnitOfWork(Protocol):
    """One transaction and the repositories that work inside it.

    ``async with uow:`` begins; leaving without ``commit()`` rolls back. The same object may be
    entered again for the next transaction.
    """

    conversations: ConversationRepository
    messages: OutgoingMessageRepository
    delivery_reports: DeliveryReportRepository
    replies: CustomerReplyRepository
    templates: TemplateRepository
    settings: ChannelSettingRepository
    reason_rules: ReasonRuleRepository
    fdr_events: FdrEventRepository
    inbox: WebhookInboxRepository
    ndr_actions: NdrActionRepository
    link_clicks: LinkClickRepository
    outcomes: ShipmentOutcomeRepository
    opt_outs: OptOutRepository
    jobs: ScheduledJobRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    async def connect_ahead(self) -> None:
        """Takes the next transaction's connection now, while the caller waits on something
        else (an error is left for the ``async with``); ``release_ahead`` gives back one not
        used."""
        ...

    async def release_ahead(self) -> None: ...
