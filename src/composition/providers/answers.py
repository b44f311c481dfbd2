"""What needs a scope of its own per unit of work: the answers handled side by side, the
chunks of a pass's statuses recorded side by side, and the inbox writer shared by concurrent
webhook POSTs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dishka import AsyncContainer, Provider, Scope, provide

from application.inbox_writer import InboxWriter
from application.ports.repositories import UnitOfWork
from application.use_cases.handle_customer_reply import HandleCustomerReply
from application.use_cases.process_webhooks import ReplyHandlers, ReportRecorders
from application.use_cases.record_delivery_reports import RecordDeliveryReports


class AnswerProvider(Provider):
    """Answers are handled side by side, each in a request scope (and transaction) of its own."""

    scope = Scope.APP

    @provide
    def reply_handlers(self, container: AsyncContainer) -> ReplyHandlers:
        @asynccontextmanager
        async def open_handler() -> AsyncIterator[HandleCustomerReply]:
            async with container() as request:
                yield await request.get(HandleCustomerReply)

        return open_handler

    @provide
    def report_recorders(self, container: AsyncContainer) -> ReportRecorders:
        """Chunks of a pass's statuses are recorded side by side, each in a request scope
        (and transaction) of its own."""

        @asynccontextmanager
        async def open_recorder() -> AsyncIterator[RecordDeliveryReports]:
            async with container() as request:
                yield await request.get(RecordDeliveryReports)

        return open_recorder

    @provide
    def inbox_writer(self, container: AsyncContainer) -> InboxWriter:
        """One per process, so that concurrent POSTs share its writes (group commit)."""

        @asynccontextmanager
        async def open_uow() -> AsyncIterator[UnitOfWork]:
            async with container() as request:
                yield await request.get(UnitOfWork)

        return InboxWriter(open_uow)
