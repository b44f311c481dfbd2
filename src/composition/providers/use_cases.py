"""The use cases (one per request scope) and how the ones made of others are put together."""

from __future__ import annotations

from dishka import Provider, Scope, provide

from application.follow_ups import FollowUpSender
from application.opt_outs import RecordPreferences
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.health import DependencyProbe
from application.ports.repositories import UnitOfWork
from application.ports.webhooks import WebhookDecoder
from application.use_cases.ask_from_tracking_page import AskFromTrackingPage
from application.use_cases.handle_customer_reply import HandleCustomerReply
from application.use_cases.held_sends import HeldSends
from application.use_cases.intake import ShipmentEventIntake
from application.use_cases.intake_triage import ShipmentEventTriage
from application.use_cases.link_early_statuses import LinkEarlyStatuses
from application.use_cases.measure_webhook_backlog import MeasureWebhookBacklog
from application.use_cases.notify_failed_delivery import NotifyFailedDelivery
from application.use_cases.process_webhooks import (
    ProcessWebhooks,
    ReplyHandlers,
    ReportRecorders,
)
from application.use_cases.purge_finished_jobs import PurgeFinishedJobs
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
from infrastructure.config import Config


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
    # Application scope: it holds nothing of one POST, which takes it without a request
    # container (entrypoints/http/webhooks.py).
    receive_webhook = provide(ReceiveWebhook, scope=Scope.APP)
    purge_webhook_bodies = provide(PurgeWebhookBodies)
    purge_finished_jobs = provide(PurgeFinishedJobs)
    show_webhook_body = provide(ShowWebhookBody)
    push_templates = provide(PushTemplatesToMeta)
    show_templates = provide(ShowTemplatesAtMeta)
    requeue_webhook_bodies = provide(RequeueWebhookBodies)
    measure_webhook_backlog = provide(MeasureWebhookBacklog)
    recheck_unknown_sends = provide(RecheckUnknownSends)
    link_early_statuses = provide(LinkEarlyStatuses)
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
        report_lanes: ReportRecorders,
        replies: ReplyHandlers,
        templates: RecordTemplateStatus,
        clock: Clock,
        activity: ActivityPublisher,
        preferences: RecordPreferences,
    ) -> ProcessWebhooks:
        return ProcessWebhooks(
            uow,
            decoder,
            report_lanes,
            replies,
            templates,
            clock,
            activity,
            preferences=preferences,
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
