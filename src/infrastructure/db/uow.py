"""The SQL unit of work: one connection and transaction, the repositories bound to it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from application.ports.repositories import (
    ChannelSettingRepository,
    ConversationRepository,
    CustomerReplyRepository,
    DeliveryReportRepository,
    FdrEventRepository,
    LinkClickRepository,
    NdrActionRepository,
    OptOutRepository,
    OutgoingMessageRepository,
    ReasonRuleRepository,
    ShipmentOutcomeRepository,
    TemplateRepository,
    WebhookInboxRepository,
)
from application.ports.scheduler import ScheduledJobRepository
from domain.errors import UpstreamUnavailable
from infrastructure.db.engine import ENDED
from infrastructure.db.repositories.conversations import SqlConversationRepository
from infrastructure.db.repositories.messages import (
    SqlCustomerReplyRepository,
    SqlDeliveryReportRepository,
    SqlOutgoingMessageRepository,
)
from infrastructure.db.repositories.ndr import SqlNdrActionRepository
from infrastructure.db.repositories.opt_outs import SqlOptOutRepository
from infrastructure.db.repositories.outcomes import SqlShipmentOutcomeRepository
from infrastructure.db.repositories.records import (
    SqlFdrEventRepository,
    SqlLinkClickRepository,
    SqlReasonRuleRepository,
    SqlWebhookInboxRepository,
)
from infrastructure.db.repositories.scheduler import SqlScheduledJobRepository
from infrastructure.db.repositories.templates import (
    SqlChannelSettingRepository,
    SqlTemplateRepository,
)

#: How long a connection taken ahead (``SqlUnitOfWork.connect_ahead``) counts as checked by
#: the pool's pre-ping; an older one is given back and another taken (docs/outages.md).
AHEAD_SECONDS = 1.0


class SqlUnitOfWork:
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

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._entering = False
        # A connection taken ahead for the next ``async with`` (``connect_ahead``), and when.
        self._ahead: AsyncConnection | None = None
        self._ahead_at = 0.0
        self._connecting = False

    async def connect_ahead(self) -> None:
        """Takes the connection of the next ``async with`` now (the pool's pre-ping with it),
        while the caller waits on something else, so that the transaction's first statement
        does not wait for the ping (docs/outages.md). A connection taken more than
        ``AHEAD_SECONDS`` before it is used is given back then and another taken, pinged as
        usual. An error is left for the ``async with`` to meet; nothing when one is held
        already or being taken."""
        if self._ahead is not None or self._connecting:
            return
        self._connecting = True
        try:
            conn = await _connect(self._engine)
        except Exception:  # whatever it is, the ``async with`` meets it again
            return
        finally:
            self._connecting = False
        self._ahead, self._ahead_at = conn, time.monotonic()

    async def release_ahead(self) -> None:
        """Gives back a connection taken ahead and not used (``connect_ahead``)."""
        conn, self._ahead = self._ahead, None
        if conn is not None:
            await _give_back(conn)

    async def _take_connection(self) -> AsyncConnection:
        conn, self._ahead = self._ahead, None
        if conn is not None:
            if time.monotonic() - self._ahead_at <= AHEAD_SECONDS:
                return conn
            await _give_back(conn)  # held too long to count as checked: taken again
        return await _connect(self._engine)

    async def __aenter__(self) -> Self:
        # Checked and claimed before the first await: a second entry while the first still
        # waits for its connection fails here instead of taking a connection of its own
        # (which the first's exit would never close).
        if self._conn is not None or self._entering:
            raise RuntimeError("unit of work entered twice")
        self._entering = True
        try:
            conn = await self._take_connection()
            try:
                self._tx = await conn.begin()
            except BaseException:
                await conn.close()
                raise
        finally:
            self._entering = False
        self._conn = conn
        self.conversations = SqlConversationRepository(conn)
        self.messages = SqlOutgoingMessageRepository(conn)
        self.delivery_reports = SqlDeliveryReportRepository(conn)
        self.replies = SqlCustomerReplyRepository(conn)
        self.templates = SqlTemplateRepository(conn)
        self.settings = SqlChannelSettingRepository(conn)
        self.reason_rules = SqlReasonRuleRepository(conn)
        self.fdr_events = SqlFdrEventRepository(conn)
        self.inbox = SqlWebhookInboxRepository(conn)
        self.ndr_actions = SqlNdrActionRepository(conn)
        self.link_clicks = SqlLinkClickRepository(conn)
        self.outcomes = SqlShipmentOutcomeRepository(conn)
        self.opt_outs = SqlOptOutRepository(conn)
        self.jobs = SqlScheduledJobRepository(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None:
            return
        try:
            if tx is not None and tx.is_active:
                await tx.rollback()
            _ended(conn)
        except DBAPIError:
            pass  # the connection is gone; so is its transaction
        finally:
            await conn.close()
        if _connection_lost(exc):
            raise UpstreamUnavailable("database connection lost") from exc
        if isinstance(exc, OperationalError):
            # Deadlocks, lock waits, a server going away: another try may succeed; a value
            # the database refuses (DataError, IntegrityError) is not retried.
            raise UpstreamUnavailable(f"database: {type(exc.orig).__name__}") from exc

    async def commit(self) -> None:
        if self._tx is None:
            raise RuntimeError("commit outside a unit of work")
        try:
            await self._tx.commit()
        except OperationalError as exc:
            raise UpstreamUnavailable(f"commit failed: {type(exc).__name__}") from exc

    async def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            await self._tx.rollback()


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads outside a unit of work, failing the way a unit of work does."""
    conn = await _connect(engine)
    try:
        yield conn
    except DBAPIError as exc:
        if _connection_lost(exc):
            raise UpstreamUnavailable("database connection lost") from exc
        raise
    finally:
        await conn.close()


async def _give_back(conn: AsyncConnection) -> None:
    """A connection on which nothing ran back to the pool, without a rollback (``_ended``)."""
    try:
        _ended(conn)
    finally:
        await conn.close()


async def _connect(engine: AsyncEngine) -> AsyncConnection:
    try:
        return await engine.connect()
    except (DBAPIError, OSError, PoolTimeout) as exc:  # PoolTimeout: every connection stuck
        raise UpstreamUnavailable(f"database unreachable: {type(exc).__name__}") from exc


def _ended(conn: AsyncConnection) -> None:
    """Nothing is open on the connection (committed or rolled back, nothing run since): the
    pool need not roll it back again (``engine._reset``)."""
    sync = conn.sync_connection
    if sync is not None and not sync.in_transaction() and not sync.invalidated:
        sync.connection.info[ENDED] = True


def _connection_lost(exc: BaseException | None) -> bool:
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
