"""The whole service against real MariaDB, Redis and the Pub/Sub emulator, with the HTTP fakes.

One ``Stack`` per test: its own topic, subscription, Redis prefix and fake servers; the
database is the session's (tests use ids of their own).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from dishka import AsyncContainer
from gcloud.aio.pubsub import PublisherClient, PubsubMessage, SubscriberClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.cache import SettingsCache
from application.ports.collaborators import EventSource
from composition.container import build_container
from domain.errors import UpstreamUnavailable
from domain.quiet_hours import NO_QUIET_HOURS
from domain.settings import ChannelSetting
from entrypoints.http.app import create_app
from entrypoints.worker import Worker, recheck_interval
from infrastructure.config import Config
from infrastructure.db.engine import create_engine
from infrastructure.db.tables import metadata
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.pubsub.client import PubSubTarget
from infrastructure.pubsub.source import PubSubEventSource
from tests.conftest import FIXTURES, new_id
from tests.fakes.esb import FakeEsb
from tests.fakes.integration_engine import FakeIntegrationEngine
from tests.fakes.meta import FakeGraphApi, RecordedSend
from tests.support.app import AppClient, serve
from tests.support.services import REDIS_URL, unique_name

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
ACCESS_TOKEN = "EAAG-default-token"
APP_SECRET = "test_app_secret"
PUBLIC_BASE_URL = "https://wa.example.com"
#: How long the tests' services wait on MariaDB before taking it as down (the service's 2 s
#: default is cut for a box of its own; a commit may take longer on the shared test box).
SLOW_BOX_DATABASE_SECONDS = 30.0
#: Meta credentials as a production environment or .env holds them (for the tests that check
#: they are used, ignored or refused as they should be, and never printed).
REAL_META_CREDENTIALS = {
    "WA_META_APP_SECRET": "real-app-secret-0123",
    "WA_META_PHONE_NUMBER_ID": "106540352242922",
    "WA_META_WABA_ID": "102290129340398",
    "WA_META_ACCESS_TOKEN": "EAAG-real-token-0123",
}
SEED_EVENT: dict[str, Any] = json.loads((FIXTURES / "fdr-event-otp-cancellation.json").read_bytes())

#: How each reason is written by couriers (code, description) in the events the tests publish.
REASON_TEXTS: dict[str, tuple[int | None, str]] = {
    "customer_unreachable": (None, "Customer not reachable"),
    "address_issue": (None, "Address incomplete"),
    "refused": (None, "Customer Refused"),
    "customer_unavailable": (1, "Customer Unavailable"),
    "rescheduled": (None, "Customer requested future delivery"),
    "oda": (None, "ODA location"),
    "payment_issue": (None, "COD amount not ready"),
    "otp_cancellation": (14, "OTP-based cancellation"),
    "open_delivery": (None, "Customer wants open delivery"),
}


def fdr_event(
    reason: str = "otp_cancellation",
    *,
    account_id: int,
    shipment_id: int | None = None,
    status_log_id: int | None = None,
    phone: str = "7891971009",
    remarks: str | None = None,
) -> dict[str, Any]:
    """The seed's event, for another shipment, attempt and reason."""
    event: dict[str, Any] = json.loads(json.dumps(SEED_EVENT))
    data = event["response_data"]
    code, description = REASON_TEXTS.get(reason, (None, reason))
    data["account_id"] = account_id
    data["id"] = shipment_id or new_id()
    data["status_log_id"] = str(status_log_id or new_id())
    data["customerContactNumber"] = phone
    # Failed just now (India time, as the WMS writes it): older attempts are not notified.
    ist = datetime.now(UTC) + timedelta(hours=5, minutes=30)
    data["status_updated_at"] = ist.strftime("%Y-%m-%d %H:%M:%S")
    additional = data["track_payload"]["clickPostTrackData"]["additional"]
    additional["ndr_status_code"] = code
    additional["ndr_status_description"] = description
    if reason != "otp_cancellation":
        data["remarks"] = remarks if remarks is not None else description
        additional["latest_status"]["remark"] = description
        data["track_payload"]["clickPostTrackData"]["remark"] = description
    return event


#: Events with a field the tables cannot hold: (what is wrong, the field named in the record).
UNSTORABLE: dict[str, tuple[dict[str, Any], str]] = {
    "shipment id 2^63": ({"id": 2**63}, "id 9223372036854775808"),
    "status log id 2^64": ({"status_log_id": str(2**64)}, "status_log_id 18446744073709551616"),
    "negative account id": ({"account_id": -379}, "account_id -379"),
    "200-char external shipment id": ({"externalShipmentID": "e" * 200}, "externalShipmentID"),
    "200-char order number": ({"customerOrderNumber": "o" * 200}, "customerOrderNumber"),
    "200-char tracking id": ({"trackingID": "t" * 200}, "trackingID"),
}

#: Names longer than their columns: cut to fit (they are only shown), the event is sent.
LONG_NAMES: dict[str, tuple[dict[str, Any], str]] = {
    "300-char customer name": ({"customerName": "Aman " + "n" * 295}, "customer_name"),
    "300-char channel label": ({"channelLabel": "Scitron " + "l" * 292}, "brand"),
}


def changed_event(account_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    event = fdr_event(account_id=account_id)
    event["response_data"].update(changes)
    return event


@dataclass
class Stack:
    activity_source: PubSubEventSource
    config: Config
    container: AsyncContainer
    meta: FakeGraphApi
    esb: FakeEsb
    engine_fake: FakeIntegrationEngine
    publisher: PublisherClient
    topic: str
    db: AsyncEngine
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    _activity: list[dict[str, Any]] = field(default_factory=list)
    stops: list[asyncio.Event] = field(default_factory=list)

    async def publish(self, event: dict[str, Any] | bytes) -> None:
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        await self.publisher.publish(self.topic, [PubsubMessage(data)])

    async def activity(self, shipment_id: int) -> list[dict[str, Any]]:
        """Every activity event published so far for the shipment (from the real topic)."""
        while True:
            batch = await self.activity_source.receive(100)
            if not batch:
                break
            await self.activity_source.ack([e.ack_id for e in batch])
            self._activity.extend(json.loads(e.data) for e in batch)
        return [e for e in self._activity if e["shipment_id"] == shipment_id]

    async def enable(self, account_id: int, **changes: Any) -> None:
        await self.enable_without_cache(account_id, **changes)
        # What the portal does after a write: every process sees the database next. On a busy
        # machine a command can outlive the client's 0.5 s socket timeout although Redis is
        # up (the event loop ran late): the portal then lets the entry expire, a test needs
        # the change seen at once, so it tells the cache again until the cache has heard it.
        cache = await self.container.get(SettingsCache)

        async def invalidated() -> bool:
            try:
                await cache.invalidate(account_id)
            except UpstreamUnavailable:
                return False
            return True

        await self.wait_for(invalidated, what=f"the settings cache to forget {account_id}")

    async def enable_without_cache(self, account_id: int, **changes: Any) -> None:
        setting = ChannelSetting(account_id=account_id, whatsapp_enabled=True, **changes)
        async with SqlUnitOfWork(self.db) as uow:
            await uow.settings.save(setting)
            await uow.commit()

    def start_worker(
        self, source_wrapper: Callable[[EventSource], EventSource] | None = None
    ) -> asyncio.Event:
        """A worker with a container of its own (like another process); returns its stop."""
        container = build_container(self.config)
        stop = asyncio.Event()

        async def run() -> None:
            # Short pulls: a stopping worker waits for its pull to land (so that no event is
            # stranded until its ack deadline); one second keeps every test's teardown quick.
            assert self.config.pubsub_project
            assert self.config.pubsub_fdr_subscription
            target = PubSubTarget(self.config.pubsub_project, self.config.pubsub_emulator_host)
            subscriber = target.subscriber()
            source: EventSource = PubSubEventSource(
                subscriber,
                target.subscription_path(self.config.pubsub_fdr_subscription),
                pull_timeout=1,
            )
            try:
                if source_wrapper is not None:
                    source = source_wrapper(source)
                worker = Worker(
                    container,
                    source,
                    concurrency=self.config.worker_concurrency,
                    recheck_every=recheck_interval(self.config),
                )
                await worker.run(stop)
            finally:
                await subscriber.close()
                await container.close()

        self.workers.append(asyncio.create_task(run()))
        self.stops.append(stop)
        return stop

    async def rows(self, table: str, **where: Any) -> list[dict[str, Any]]:
        t = metadata.tables[table]
        stmt = select(t)
        for column, value in where.items():
            stmt = stmt.where(t.c[column] == value)
        async with self.db.connect() as conn:
            result = await conn.execute(stmt.order_by(t.c.id))
            return [dict(r) for r in result.mappings()]

    async def fdr_outcome(self, shipment_id: int, status_log_id: int) -> dict[str, Any] | None:
        found = await self.rows("wa_fdr_events", event_key=f"fdr:{shipment_id}:{status_log_id}")
        return found[0] if found else None

    async def handled(self, event: dict[str, Any]) -> tuple[dict[str, Any], list[RecordedSend]]:
        """Publishes ``event`` and waits for its recorded outcome: the outcome and every send
        to Meta since it was published."""
        before = len(self.meta.requests)
        data = event["response_data"]
        await self.publish(event)

        async def recorded() -> bool:
            return await self.fdr_outcome(data["id"], int(data["status_log_id"])) is not None

        await self.wait_for(recorded, what="the event's outcome")
        outcome = await self.fdr_outcome(data["id"], int(data["status_log_id"]))
        assert outcome is not None
        return outcome, self.meta.requests[before:]

    async def wait_for(
        self, check: Callable[[], Awaitable[bool]], seconds: float = 90.0, what: str = "condition"
    ) -> None:
        """Polls ``check`` until it holds (``eventually``)."""
        await eventually(check, seconds, what)

    async def answerable(self, shipment_id: int) -> None:
        """Waits until the worker has stored Meta's answer to the shipment's newest template
        (its conversation is no longer ``pending``). The fake Meta records a send before it
        answers, so a test that answers as soon as the template shows in ``meta.requests``
        could find the conversation still pending on a busy machine (a photo got no nudge, a
        language switch no buttons); a real shopper answers a template Meta accepted minutes
        before."""

        async def recorded() -> bool:
            rows = await self.rows("wa_conversations", shipment_id=shipment_id)
            return bool(rows) and rows[-1]["state"] != "pending"

        await self.wait_for(recorded, what=f"the send of shipment {shipment_id}'s template")

    @asynccontextmanager
    async def http(self, *, run_pump: bool = True) -> AsyncIterator[AppClient]:
        """The HTTP app on this stack; with ``run_pump=False`` the test drains webhooks itself
        (``await client.app.state.webhook_pump.drain()``)."""
        async with serve(create_app(build_container(self.config), run_pump=run_pump)) as client:
            yield client


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float = 90.0, what: str = "condition"
) -> None:
    """Polls ``check`` until it holds; the bound is generous so that a busy machine is never a
    failure (a test waits only as long as the condition takes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def new_subscription(
    target: PubSubTarget,
    publisher: PublisherClient,
    subscriber: SubscriberClient,
    stem: str,
    *,
    ack_deadline_seconds: int | None = None,
) -> tuple[str, str]:
    """A fresh topic on the emulator and a subscription to it: (topic, subscription)."""
    topic = target.topic_path(unique_name(stem))
    subscription = target.subscription_path(unique_name(f"{stem}-sub"))
    await publisher.create_topic(topic)
    settings = {"ackDeadlineSeconds": ack_deadline_seconds} if ack_deadline_seconds else None
    await subscriber.create_subscription(subscription, topic, settings)
    return topic, subscription


async def leave_no_unknown_send(db: AsyncEngine) -> None:
    """Fails every send a test left unknown (or unsent): the next test's worker would
    otherwise send it again to its own fake Meta once it is due."""
    outgoing = metadata.tables["wa_outgoing_messages"]
    async with db.begin() as conn:
        await conn.execute(
            outgoing.update()
            .where(outgoing.c.status.in_(["unknown", "queued", "pending", "retrying"]))
            .values(status="failed", error_title="left by a test")
        )


@asynccontextmanager
async def running_stack(
    mysql_url: str, emulator_host: str, **config_changes: Any
) -> AsyncIterator[Stack]:
    meta, esb, engine_fake = FakeGraphApi(), FakeEsb(), FakeIntegrationEngine()
    await meta.start()
    await esb.start()
    await engine_fake.start()
    meta.add_sender(phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID, token=ACCESS_TOKEN)
    target = PubSubTarget("test", emulator_host)
    publisher = target.publisher()
    subscriber = target.subscriber()
    topic, subscription = await new_subscription(
        target, publisher, subscriber, "fdr", ack_deadline_seconds=30
    )
    activity_topic, activity_subscription = await new_subscription(
        target, publisher, subscriber, "activity"
    )
    values: dict[str, Any] = {
        "database_url": mysql_url,
        # A database slower than 2 s on a loaded box is no outage here (docs/outages.md); the
        # outage tests set their own bound.
        "database_timeout_seconds": SLOW_BOX_DATABASE_SECONDS,
        "redis_url": REDIS_URL,
        "redis_key_prefix": f"test:{secrets.token_hex(4)}:",
        "pubsub_project": "test",
        "pubsub_fdr_subscription": subscription,
        "pubsub_activity_topic": activity_topic,
        "pubsub_emulator_host": emulator_host,
        "meta_graph_url": meta.base_url,
        "meta_api_version": "v23.0",
        "meta_app_secret": APP_SECRET,
        "meta_verify_token": "verify-me",
        "meta_sandbox": False,
        "meta_phone_number_id": PHONE_NUMBER_ID,
        "meta_waba_id": WABA_ID,
        "meta_access_token": ACCESS_TOKEN,
        "meta_timeout_seconds": 2.0,
        "integration_engine_url": engine_fake.url,
        "esb_url": esb.url,
        "portal_tracking_url": "https://track.example.com/{tracking_id}",
        "public_base_url": PUBLIC_BASE_URL,
        "worker_concurrency": 8,
        # These tests run on the real clock at any hour; quiet hours are tested on a clock the
        # test moves (test_quiet_hours.py).
        "quiet_hours": NO_QUIET_HOURS,
    }
    values.update(config_changes)
    config = Config(**values)
    db = create_engine(mysql_url, pool_size=2)
    stack = Stack(
        activity_source=PubSubEventSource(subscriber, activity_subscription, pull_timeout=1),
        config=config,
        container=build_container(config),
        meta=meta,
        esb=esb,
        engine_fake=engine_fake,
        publisher=publisher,
        topic=topic,
        db=db,
    )
    try:
        yield stack
    finally:
        # Leave no pending webhook for the next test's stack (they share the database).
        async with db.begin() as conn:
            inbox = metadata.tables["wa_webhook_inbox"]
            await conn.execute(
                inbox.update()
                .where(inbox.c.processed_at.is_(None))
                .values(processed_at=datetime.now(UTC), error="left by a test")
            )
        for stop in stack.stops:
            stop.set()
        if stack.workers:
            await asyncio.wait(stack.workers, timeout=15)
        await leave_no_unknown_send(db)
        await stack.container.close()
        await publisher.close()
        await subscriber.close()
        await db.dispose()
        await meta.stop()
        await esb.stop()
        await engine_fake.stop()


def stack_fixture(*, worker: bool = True, **config_changes: Any) -> Any:
    """A test module's ``stack`` fixture: a running stack of each test's own, with the
    ``config_changes``; its worker pulls FDR events unless ``worker`` is False. In the module:
    ``stack = stack_fixture(auth_jwt_secret=SECRET)``."""

    @pytest_asyncio.fixture(loop_scope="session")
    async def stack(mysql_url: str, pubsub_emulator_host: str) -> AsyncIterator[Stack]:
        """Fakes, Pub/Sub topics and a container of this test's own on the shared database."""
        async with running_stack(mysql_url, pubsub_emulator_host, **config_changes) as running:
            if worker:
                running.start_worker()
            yield running

    return stack
