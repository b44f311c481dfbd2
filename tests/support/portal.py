"""The portal API in tests: tokens, paths, and whole conversations recorded as the flows would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.repositories import UnitOfWork
from domain.activity import Outcome
from domain.conversation import ConversationState
from domain.messages import MessageKind, ReplyType
from domain.ndr import NdrActionKind, NdrActionState
from domain.reasons import FdrReason
from domain.records import FdrEventRecord, LinkClick
from domain.settings import SenderConnection
from domain.status import MessageStatus
from infrastructure.auth.jwt import mint_token
from infrastructure.config import Config
from infrastructure.db.engine import create_engine
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import new_id
from tests.fakes.integration_engine import FakeIntegrationEngine
from tests.fakes.meta import FakeGraphApi
from tests.support.app import AppClient, http_client
from tests.support.factories import (
    T0,
    ConversationFactory,
    CustomerReplyFactory,
    DeliveryReportFactory,
    NdrActionFactory,
    OutgoingMessageFactory,
)
from tests.support.stack import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    SLOW_BOX_DATABASE_SECONDS,
    WABA_ID,
)

SECRET = "portal-tests-secret-0123456789abcdef-0123"
SHOPPER = "917891971009"


def token(
    *accounts: int | str,
    subject: str = "support@brand.example",
    expires_in: timedelta = timedelta(hours=1),
    secret: str = SECRET,
) -> str:
    return mint_token(secret, subject=subject, accounts=accounts, expires_in=expires_in)


def bearer(*accounts: int | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*accounts)}"}


def api(account_id: int, path: str = "") -> str:
    return f"/api/v1/workspaces/{account_id}/whatsapp{path}"


@dataclass(frozen=True, slots=True)
class RecordedThread:
    conversation_id: int
    shipment_id: int
    template_row_id: int  # wa_outgoing_messages.id of the template
    template_wamid: str | None
    created_at: datetime


async def record_thread(
    uow_factory: Callable[[], UnitOfWork],
    account_id: int,
    *,
    reason: FdrReason = FdrReason.CUSTOMER_UNREACHABLE,
    created_at: datetime = T0,
    template_status: MessageStatus = MessageStatus.READ,
    accepted: bool = True,  # Meta took the template (gave it a wamid)
    error_code: int | None = None,
    answered: bool = True,
    action: NdrActionState | None = NdrActionState.DONE,
    state: ConversationState = ConversationState.RESOLVED,
    clicked: bool = True,
) -> RecordedThread:
    """A conversation with everything the flows record: the template and its ticks, the
    shopper's answers, a follow-up, an NDR action and a tracking-link click."""
    at = created_at
    wamid = f"wamid.T{new_id()}" if accepted else None
    async with uow_factory() as uow:
        conversation = await uow.conversations.add(
            ConversationFactory.build(
                account_id=account_id,
                reason=reason,
                customer_phone=SHOPPER,
                customer_name="Aman Verma",
                brand="Scitron Shopify",
                state=state,
                root_message_id=wamid,
                sender_connection_id=0,
                created_at=at,
                updated_at=at,
            )
        )
        assert conversation is not None
        assert conversation.id is not None
        template = await uow.messages.add(
            OutgoingMessageFactory.build(
                conversation_id=conversation.id,
                kind=MessageKind.TEMPLATE,
                customer_phone=SHOPPER,
                sender_connection_id=0,
                message_id=wamid,
                status=template_status,
                error_code=error_code,
                error_title=None if error_code is None else f"({error_code}) failed for {SHOPPER}",
                created_at=at,
                updated_at=at,
            )
        )
        assert template.id is not None
        if wamid is not None:
            ticks = [MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ]
            ticks = ticks[: ticks.index(template_status) + 1] if template_status in ticks else []
            if template_status is MessageStatus.FAILED:
                ticks = [MessageStatus.SENT, MessageStatus.FAILED]
            await uow.delivery_reports.add_many(
                [
                    DeliveryReportFactory.build(
                        wa_outgoing_message_id=template.id,
                        message_id=wamid,
                        status=tick,
                        error_code=error_code if tick is MessageStatus.FAILED else None,
                        external_timestamp=at + timedelta(seconds=10 * (i + 1)),
                        created_at=at + timedelta(seconds=10 * (i + 1)),
                    )
                    for i, tick in enumerate(ticks)
                ]
            )
        if answered and wamid is not None:
            await uow.replies.add(
                CustomerReplyFactory.build(
                    customer_phone=SHOPPER,
                    context_message_id=wamid,
                    root_id=template.id,
                    kind=ReplyType.BUTTON,
                    value="Alternate number",
                    button_id="alt_number",
                    sent_at=at + timedelta(minutes=5),
                    created_at=at + timedelta(minutes=5),
                )
            )
            follow_up_id = f"wamid.F{new_id()}"
            await uow.messages.add(
                OutgoingMessageFactory.build(
                    conversation_id=conversation.id,
                    kind=MessageKind.TEXT,
                    customer_phone=SHOPPER,
                    sender_connection_id=0,
                    root_message_id=wamid,
                    message_id=follow_up_id,
                    status=MessageStatus.DELIVERED,
                    created_at=at + timedelta(minutes=5, seconds=1),
                    updated_at=at + timedelta(minutes=5, seconds=2),
                )
            )
            await uow.replies.add(
                CustomerReplyFactory.build(
                    customer_phone=SHOPPER,
                    context_message_id=follow_up_id,
                    root_id=template.id,
                    kind=ReplyType.TEXT,
                    value="call me on 98765 43210 please",
                    sent_at=at + timedelta(minutes=7),
                    created_at=at + timedelta(minutes=7),
                )
            )
        if action is not None:
            await uow.ndr_actions.add(
                NdrActionFactory.build(
                    conversation_id=conversation.id,
                    account_id=account_id,
                    shipment_id=conversation.shipment_id,
                    kind=NdrActionKind.UPDATE_PHONE,
                    phone="919876543210",
                    state=action,
                    attempts=1,
                    result="ESB-NDR-1" if action is NdrActionState.DONE else "",
                    created_at=at + timedelta(minutes=7, seconds=1),
                    updated_at=at + timedelta(minutes=7, seconds=2),
                )
            )
        if clicked:
            await uow.link_clicks.add(
                LinkClick(
                    shipment_id=conversation.shipment_id,
                    conversation_id=conversation.id,
                    clicked_at=at + timedelta(minutes=9),
                )
            )
        await uow.fdr_events.add(
            FdrEventRecord(
                event_key=f"fdr:{conversation.shipment_id}:{conversation.status_log_id}",
                account_id=account_id,
                shipment_id=conversation.shipment_id,
                status_log_id=conversation.status_log_id,
                reason=reason.value,
                outcome=Outcome.SENT if accepted else Outcome.FAILED,
                conversation_id=conversation.id,
                error_code=error_code,
                received_at=at,
            )
        )
        await uow.commit()
    return RecordedThread(
        conversation_id=conversation.id,
        shipment_id=conversation.shipment_id,
        template_row_id=template.id,
        template_wamid=wamid,
        created_at=at,
    )


async def record_skip(
    uow_factory: Callable[[], UnitOfWork],
    account_id: int,
    *,
    why: str,
    reason: str = FdrReason.UNKNOWN.value,
    at: datetime = T0,
) -> None:
    """An FDR event that sent nothing, recorded as the intake does (``why: detail``)."""
    async with uow_factory() as uow:
        await uow.fdr_events.add(
            FdrEventRecord(
                event_key=f"fdr:{new_id()}:{new_id()}",
                account_id=account_id,
                shipment_id=new_id(),
                status_log_id=new_id(),
                reason=reason,
                outcome=Outcome.SKIPPED,
                detail=f"{why}: something about it",
                skip_reason=why,
                received_at=at,
            )
        )
        await uow.commit()


@dataclass
class PortalEnv:
    """The HTTP app on MariaDB with the fake Graph API and integration engine."""

    client: AppClient
    meta: FakeGraphApi
    engine_fake: FakeIntegrationEngine
    db: AsyncEngine

    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.db)

    def own_connection(self, account_id: int) -> SenderConnection:
        """A WhatsApp app of the workspace's own, installed and known to Meta, with a WABA
        of its own (so Meta's cached template list is the test's alone)."""
        sender = SenderConnection(
            connection_id=new_id(),
            account_id=account_id,
            phone_number_id=f"pn{new_id()}",
            waba_id=f"waba{new_id()}",
            access_token=f"token-{new_id()}",
            app_secret=f"secret-{new_id()}",
            display_phone_number="+91 99887 76655",
            name="Brand WhatsApp",
        )
        self.engine_fake.install(sender)
        self.meta.add_sender(
            phone_number_id=sender.phone_number_id,
            waba_id=sender.waba_id,
            token=sender.access_token,
        )
        return sender

    async def get(self, account_id: int, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(
            api(account_id, path), params=params, headers=bearer(account_id)
        )

    async def post(self, account_id: int, path: str, body: object = None) -> httpx.Response:
        return await self.client.post(api(account_id, path), json=body, headers=bearer(account_id))

    async def put(self, account_id: int, path: str, body: object) -> httpx.Response:
        return await self.client.put(api(account_id, path), json=body, headers=bearer(account_id))

    async def delete(self, account_id: int, path: str) -> httpx.Response:
        return await self.client.delete(api(account_id, path), headers=bearer(account_id))


@asynccontextmanager
async def portal_env(mysql_url: str, **config_changes: Any) -> AsyncIterator[PortalEnv]:
    meta, engine_fake = FakeGraphApi(), FakeIntegrationEngine()
    await meta.start()
    await engine_fake.start()
    meta.add_sender(phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID, token=ACCESS_TOKEN)
    values: dict[str, Any] = {
        "database_url": mysql_url,
        "database_timeout_seconds": SLOW_BOX_DATABASE_SECONDS,  # docs/outages.md
        "auth_jwt_secret": SECRET,
        "meta_graph_url": meta.base_url,
        "meta_sandbox": False,
        "meta_phone_number_id": PHONE_NUMBER_ID,
        "meta_waba_id": WABA_ID,
        "meta_access_token": ACCESS_TOKEN,
        "meta_app_secret": APP_SECRET,
        "integration_engine_url": engine_fake.url,
    }
    values.update(config_changes)
    db = create_engine(mysql_url, pool_size=2)
    try:
        async with http_client(Config(**values)) as client:
            yield PortalEnv(client=client, meta=meta, engine_fake=engine_fake, db=db)
    finally:
        await db.dispose()
        await meta.stop()
        await engine_fake.stop()
