"""The configuration, the clock, ids and the options every use case reads; the default sender."""

from __future__ import annotations

from dishka import Provider, Scope, from_context, provide

from application.ports.clock import Clock, IdGenerator
from application.ports.held_events import FailedDeliveryCodec
from application.ports.shipment_events import IntakeMetrics, ShipmentEventDecoder
from application.services import NotificationOptions
from composition.activation import META
from composition.options import notification_options
from domain.outcomes import SHIPPED_NAMES, EventNames
from domain.settings import DEFAULT_CONNECTION_ID, SenderConnection
from infrastructure.clock import SystemClock, UuidRefs
from infrastructure.config import Config
from infrastructure.events.held_event import MsgspecFailedDeliveryCodec
from infrastructure.events.intake_metrics import PrometheusIntakeMetrics
from infrastructure.events.shipment_event import MsgspecShipmentEventDecoder


class CoreProvider(Provider):
    scope = Scope.APP
    config = from_context(provides=Config, scope=Scope.APP)
    clock = provide(SystemClock, provides=Clock)
    refs = provide(UuidRefs, provides=IdGenerator)
    held_events = provide(MsgspecFailedDeliveryCodec, provides=FailedDeliveryCodec)
    intake_metrics = provide(PrometheusIntakeMetrics, provides=IntakeMetrics)

    @provide
    def options(self, config: Config) -> NotificationOptions:
        return notification_options(config)

    @provide
    def event_names(self, config: Config) -> EventNames:
        return SHIPPED_NAMES.with_extra(config.outcome_event_names)

    @provide
    def shipment_events(self, names: EventNames) -> ShipmentEventDecoder:
        return MsgspecShipmentEventDecoder(names)

    @provide
    def default_sender(self, config: Config) -> SenderConnection:
        """The Eshopbox default connection in the sandbox.

        The sandbox checks webhooks with ``WA_META_APP_SECRET`` (the demo sets a secret of its
        own for each run); without one, webhooks are refused (503), never checked against a
        known value.
        """
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

    @provide(when=META)
    def meta_default_sender(self, config: Config) -> SenderConnection:
        """The Eshopbox default connection at Meta, from the environment."""
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
