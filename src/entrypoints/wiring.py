"""The composition root: the one place that chooses an adapter for every port (dishka).

Choices follow the configuration: Redis or in-process cache and limiter, Meta or its sandbox,
the integration engine and ESB over HTTP or in memory, Pub/Sub or an in-process event source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from dishka import (
    AnyOf,
    AsyncContainer,
    Provider,
    Scope,
    decorate,
    from_context,
    make_async_container,
    provide,
)
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from application.follow_ups import FollowUpSender
from application.inbox_writer import InboxWriter
from application.opt_outs import RecordPreferences
from application.ports.auth import PushAuthenticator
from application.ports.cache import SettingsCache
from application.ports.clock import Clock, IdGenerator
from application.ports.collaborators import (
    ActivityPublisher,
    ConnectionDirectory,
    EventSource,
    NdrActions,
)
from application.ports.health import DependencyProbe
from application.ports.held_events import FailedDeliveryCodec
from application.ports.repositories import UnitOfWork
from application.ports.webhooks import WebhookDecoder, WebhookVerifier
from application.ports.whatsapp import (
    TemplateCatalog,
    TemplateRegistry,
    ThroughputLimiter,
    WhatsAppGateway,
)
from application.services import (
    NotificationOptions,
    ReasonBook,
    SenderResolver,
    SettingsReader,
)
from application.use_cases.ask_from_tracking_page import AskFromTrackingPage
from application.use_cases.handle_customer_reply import HandleCustomerReply
from application.use_cases.held_sends import HeldSends
from application.use_cases.measure_webhook_backlog import MeasureWebhookBacklog
from application.use_cases.notify_failed_delivery import NotifyFailedDelivery
from application.use_cases.process_webhooks import ProcessWebhooks, ReplyHandlers
from application.use_cases.purge_webhook_bodies import PurgeWebhookBodies
from application.use_cases.readiness import CheckReadiness
from application.use_cases.receive_webhook import ReceiveWebhook
from application.use_cases.recheck_unknown_sends import RecheckUnknownSends
from application.use_cases.record_delivery_reports import RecordDeliveryReports
from application.use_cases.record_poison_event import RecordPoisonEvent
from application.use_cases.record_shipment_outcome import RecordShipmentOutcome
from application.use_cases.record_template_status import RecordTemplateStatus
from application.use_cases.release_held_send import ReleaseHeldSend
from application.use_cases.run_due_jobs import JobHandlers, RunDueJobs
from application.use_cases.send_reminder import SendReminder
from application.use_cases.take_default_action import TakeDefaultAction
from application.use_cases.templates_at_meta import PushTemplatesToMeta, ShowTemplatesAtMeta
from application.use_cases.track_link_click import TrackLinkClick
from application.use_cases.webhook_bodies import RequeueWebhookBodies, ShowWebhookBody
from domain.outcomes import SHIPPED_NAMES, EventNames
from domain.settings import DEFAULT_CONNECTION_ID, SenderConnection
from entrypoints.intake import ShipmentEventIntake, ShipmentEventTriage
from entrypoints.portal_wiring import PortalProvider
from infrastructure.auth.jwt import jwks_client
from infrastructure.auth.push import PubSubPushAuthenticator
from infrastructure.best_effort import NeverFailingActivityPublisher
from infrastructure.cache.client import redis_client
from infrastructure.cache.memory import InProcessSettingsCache
from infrastructure.cache.redis import RedisSettingsCache
from infrastructure.clock import SystemClock, UuidRefs
from infrastructure.config import Config
from infrastructure.db.engine import create_engine
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.esb.ndr import HttpNdrActions
from infrastructure.events.held_event import MsgspecFailedDeliveryCodec
from infrastructure.i18n import load_catalogs
from infrastructure.integration_engine.directory import (
    CachedConnectionDirectory,
    HttpConnectionDirectory,
)
from infrastructure.limits.throughput import LimitsThroughputLimiter
from infrastructure.local.activity import LoggingActivityPublisher
from infrastructure.local.collaborators import InMemoryConnectionDirectory, InMemoryNdrActions
from infrastructure.local.events import InMemoryEventSource
from infrastructure.meta.gateway import (
    CachedTemplateCatalog,
    MetaCloudWhatsApp,
    MetaTemplateCatalog,
)
from infrastructure.meta.registry import MetaTemplateRegistry, SandboxTemplateRegistry
from infrastructure.meta.sandbox import SandboxTemplateCatalog, SandboxWhatsApp
from infrastructure.meta.webhook import MetaWebhookFormat
from infrastructure.probes import DatabaseProbe, RedisProbe, SchemaProbe
from infrastructure.pubsub.activity import PubSubActivityPublisher
from infrastructure.pubsub.client import PubSubTarget
from infrastructure.pubsub.source import PubSubEventSource


def default_sender(config: Config) -> SenderConnection:
    """The Eshopbox default connection: from the environment, or the sandbox's.

    The sandbox checks webhooks with ``WA_META_APP_SECRET`` (the demo sets a secret of its own
    for each run); without one, webhooks are refused (503), never checked against a known value.
    """
    if config.meta_sandbox:
        return SenderConnection(
            connection_id=DEFAULT_CONNECTION_ID,
            account_id=config.default_account_id,
            phone_number_id=config.meta_phone_number_id or "sandbox",
            waba_id=config.meta_waba_id or "sandbox",
            access_token=config.meta_access_token or "sandbox",
            app_secret=config.meta_app_secret or "",
            display_phone_number="sandbox",
            name="Eshopbox (sandbox)",
        )
    assert config.meta_phone_number_id
    assert config.meta_waba_id
    assert config.meta_access_token
    assert config.meta_app_secret
    return SenderConnection(
        connection_id=DEFAULT_CONNECTION_ID,
        account_id=config.default_account_id,
        phone_number_id=config.meta_phone_number_id,
        waba_id=config.meta_waba_id,
        access_token=config.meta_access_token,
        app_secret=config.meta_app_secret,
        name="Eshopbox",
    )


class CoreProvider(Provider):
    scope = Scope.APP
    config = from_context(provides=Config, scope=Scope.APP)
    clock = provide(SystemClock, provides=Clock)
    refs = provide(UuidRefs, provides=IdGenerator)
    held_events = provide(MsgspecFailedDeliveryCodec, provides=FailedDeliveryCodec)

    @provide
    def options(self, config: Config) -> NotificationOptions:
        return NotificationOptions(
            default_account_id=config.default_account_id,
            tracking_base_url=config.public_base_url,
            support_phone=config.support_phone,
            support_email=config.support_email,
            phone_region=config.default_phone_region,
            stale_after_seconds=config.fdr_stale_after_hours * 3600,
            unknown_recheck_seconds=config.unknown_send_recheck_seconds,
            catalogs=load_catalogs(),
            quiet_hours=config.quiet_hours,
        )

    @provide
    def event_names(self, config: Config) -> EventNames:
        return SHIPPED_NAMES.with_extra(config.outcome_event_names)

    @provide
    def default_sender(self, config: Config) -> SenderConnection:
        return default_sender(config)


class DatabaseProvider(Provider):
    @provide(scope=Scope.APP)
    async def engine(self, config: Config) -> AsyncIterator[AsyncEngine]:
        engine = create_engine(config.database_url, timeout=config.database_timeout_seconds)
        yield engine
        await engine.dispose()

    @provide(scope=Scope.REQUEST)
    def unit_of_work(self, engine: AsyncEngine) -> UnitOfWork:
        return SqlUnitOfWork(engine)


class CacheProvider(Provider):
    """Redis when ``WA_REDIS_URL`` is set, else in-process cache and limiter."""

    scope = Scope.APP

    def __init__(self, redis_url: str | None, key_prefix: str = "fdr-whatsapp:") -> None:
        super().__init__()
        self._redis_url = redis_url
        self._prefix = key_prefix

    @provide
    async def redis(self) -> AsyncIterator[Redis | None]:
        if self._redis_url is None:
            yield None
            return
        client = redis_client(self._redis_url)
        yield client
        await client.aclose()

    @provide
    def settings_cache(self, redis: Redis | None) -> SettingsCache:
        if redis is None:
            return InProcessSettingsCache(ttl=1.0)
        return RedisSettingsCache(redis, prefix=self._prefix)

    @provide
    async def limiter(self, config: Config) -> AsyncIterator[ThroughputLimiter]:
        if self._redis_url is None:
            yield LimitsThroughputLimiter.in_process(config.meta_throughput)
            return
        limiter = LimitsThroughputLimiter.redis(
            self._redis_url, config.meta_throughput, key_prefix=self._prefix
        )
        yield limiter
        await limiter.aclose()

    @provide
    def probes(self, engine: AsyncEngine, redis: Redis | None) -> list[DependencyProbe]:
        probes: list[DependencyProbe] = [DatabaseProbe(engine), SchemaProbe(engine)]
        if redis is not None:
            probes.append(RedisProbe(redis))
        return probes


class MetaProvider(Provider):
    """Meta's Cloud API, or the sandbox when ``WA_META_SANDBOX`` is on."""

    scope = Scope.APP

    @provide
    async def meta_client(self, config: Config) -> AsyncIterator[httpx.AsyncClient]:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.meta_timeout_seconds, connect=3.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        )
        yield client
        await client.aclose()

    @provide
    def gateway(self, config: Config, client: httpx.AsyncClient) -> WhatsAppGateway:
        if config.meta_sandbox:
            return SandboxWhatsApp()
        return MetaCloudWhatsApp(
            client, graph_url=config.meta_graph_url, api_version=config.meta_api_version
        )

    @provide
    def catalog(self, config: Config, client: httpx.AsyncClient) -> TemplateCatalog:
        if config.meta_sandbox:
            return SandboxTemplateCatalog()
        return CachedTemplateCatalog(
            MetaTemplateCatalog(
                client, graph_url=config.meta_graph_url, api_version=config.meta_api_version
            )
        )

    @provide
    def registry(self, config: Config, client: httpx.AsyncClient) -> TemplateRegistry:
        if config.meta_sandbox:
            return SandboxTemplateRegistry()
        return MetaTemplateRegistry(
            client, graph_url=config.meta_graph_url, api_version=config.meta_api_version
        )

    webhook_format = provide(MetaWebhookFormat, provides=AnyOf[WebhookVerifier, WebhookDecoder])


class CollaboratorsProvider(Provider):
    scope = Scope.APP

    @provide
    async def directory(self, config: Config) -> AsyncIterator[ConnectionDirectory]:
        if config.integration_engine_url is None:
            yield InMemoryConnectionDirectory()
            return
        client = httpx.AsyncClient()
        yield CachedConnectionDirectory(
            HttpConnectionDirectory(client, config.integration_engine_url)
        )
        await client.aclose()

    @provide
    async def ndr_actions(self, config: Config) -> AsyncIterator[NdrActions]:
        if config.esb_url is None:
            yield InMemoryNdrActions()  # demo: actions are recorded in wa_ndr_actions only
            return
        headers = {"Authorization": f"Bearer {config.esb_token}"} if config.esb_token else None
        client = httpx.AsyncClient(headers=headers)
        yield HttpNdrActions(client, config.esb_url)
        await client.aclose()

    @provide
    async def activity(self, config: Config) -> AsyncIterator[ActivityPublisher]:
        if not (config.pubsub_project and config.pubsub_activity_topic):
            yield LoggingActivityPublisher()
            return
        target = PubSubTarget(config.pubsub_project, config.pubsub_emulator_host)
        client = target.publisher()
        yield PubSubActivityPublisher(client, target.topic_path(config.pubsub_activity_topic))
        await client.close()

    @provide
    async def events(self, config: Config) -> AsyncIterator[EventSource]:
        if not (config.pubsub_project and config.pubsub_fdr_subscription):
            yield InMemoryEventSource()
            return
        target = PubSubTarget(config.pubsub_project, config.pubsub_emulator_host)
        client = target.subscriber()
        yield PubSubEventSource(client, target.subscription_path(config.pubsub_fdr_subscription))
        await client.close()


class ServicesProvider(Provider):
    scope = Scope.APP

    @provide
    def settings(self, cache: SettingsCache) -> SettingsReader:
        return SettingsReader(cache)

    @provide
    def push_authenticator(self, config: Config) -> PushAuthenticator:
        return PubSubPushAuthenticator(
            token=config.pubsub_push_token,
            audience=config.pubsub_push_audience,
            service_account=config.pubsub_push_service_account,
            jwks=jwks_client(config.pubsub_push_jwks_url) if config.pubsub_push_audience else None,
        )

    @provide
    def rules(self) -> ReasonBook:
        return ReasonBook(ttl=30.0)

    @provide
    def senders(self, directory: ConnectionDirectory, default: SenderConnection) -> SenderResolver:
        return SenderResolver(directory, default)


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
    def inbox_writer(self, container: AsyncContainer) -> InboxWriter:
        """One per process, so that concurrent POSTs share its writes (group commit)."""

        @asynccontextmanager
        async def open_uow() -> AsyncIterator[UnitOfWork]:
            async with container() as request:
                yield await request.get(UnitOfWork)

        return InboxWriter(open_uow)


class UseCaseProvider(Provider):
    scope = Scope.REQUEST
    notify = provide(NotifyFailedDelivery)
    poison = provide(RecordPoisonEvent)
    outcomes = provide(RecordShipmentOutcome)
    intake = provide(ShipmentEventIntake)
    triage = provide(ShipmentEventTriage)
    follow_ups = provide(FollowUpSender)
    reports = provide(RecordDeliveryReports)
    template_status = provide(RecordTemplateStatus)
    replies = provide(HandleCustomerReply)
    preferences = provide(RecordPreferences)
    receive_webhook = provide(ReceiveWebhook)
    purge_webhook_bodies = provide(PurgeWebhookBodies)
    show_webhook_body = provide(ShowWebhookBody)
    push_templates = provide(PushTemplatesToMeta)
    show_templates = provide(ShowTemplatesAtMeta)
    requeue_webhook_bodies = provide(RequeueWebhookBodies)
    measure_webhook_backlog = provide(MeasureWebhookBacklog)
    recheck_unknown_sends = provide(RecheckUnknownSends)
    ask_from_tracking_page = provide(AskFromTrackingPage)
    run_due_jobs = provide(RunDueJobs)
    held_sends = provide(HeldSends)
    release_held_send = provide(ReleaseHeldSend)

    send_reminder = provide(SendReminder)
    take_default_action = provide(TakeDefaultAction)

    @provide
    def job_handlers(
        self, reminders: SendReminder, default_actions: TakeDefaultAction, held: ReleaseHeldSend
    ) -> JobHandlers:
        """Every kind of scheduled job and what does it (docs/scheduler.md)."""
        return JobHandlers([reminders, default_actions, held])

    @provide
    def process_webhooks(
        self,
        uow: UnitOfWork,
        decoder: WebhookDecoder,
        reports: RecordDeliveryReports,
        replies: ReplyHandlers,
        templates: RecordTemplateStatus,
        clock: Clock,
        preferences: RecordPreferences,
    ) -> ProcessWebhooks:
        return ProcessWebhooks(
            uow, decoder, reports, replies, templates, clock, preferences=preferences
        )

    @provide(scope=Scope.APP)  # one per process: it logs only when a dependency changes
    def readiness(self, probes: list[DependencyProbe]) -> CheckReadiness:
        return CheckReadiness(probes)

    @provide
    def track(
        self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock, config: Config
    ) -> TrackLinkClick:
        # A demo (the sandbox) never sends the shopper off to a real brand's site: without a
        # portal URL its links open the built-in stand-in (docs/console.md).
        return TrackLinkClick(
            uow,
            activity,
            clock,
            config.portal_tracking_url,
            follow_brand_host=not config.meta_sandbox,
        )


class BestEffortProvider(Provider):
    """Wraps, after every override, the ports whose failures must never stop a flow."""

    @decorate
    def activity(self, inner: ActivityPublisher) -> ActivityPublisher:
        return NeverFailingActivityPublisher(inner)


def build_container(config: Config, *overrides: Provider) -> AsyncContainer:
    """Every provider of the service; ``overrides`` (tests, demo) replace what they provide."""
    return make_async_container(
        CoreProvider(),
        DatabaseProvider(),
        CacheProvider(config.redis_url, config.redis_key_prefix),
        MetaProvider(),
        CollaboratorsProvider(),
        ServicesProvider(),
        UseCaseProvider(),
        AnswerProvider(),
        PortalProvider(),
        *overrides,
        BestEffortProvider(),  # last: it wraps whatever publisher an override chose
        context={Config: config},
    )


def outcome_event_source(
    config: Config,
) -> tuple[EventSource, Callable[[], Awaitable[None]]]:
    """The pull source of ``WA_PUBSUB_OUTCOME_SUBSCRIPTION`` and how to close it."""
    assert config.pubsub_project
    assert config.pubsub_outcome_subscription
    target = PubSubTarget(config.pubsub_project, config.pubsub_emulator_host)
    subscriber = target.subscriber()
    path = target.subscription_path(config.pubsub_outcome_subscription)
    return PubSubEventSource(subscriber, path), subscriber.close
