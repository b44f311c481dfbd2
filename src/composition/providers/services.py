"""The application's shared services: settings, reason rules, senders; the push authenticator."""

from __future__ import annotations

from dishka import Provider, Scope, provide

from application.ports.auth import PushAuthenticator
from application.ports.cache import SettingsCache
from application.ports.collaborators import ConnectionDirectory
from application.sending import SendStep
from application.services import ReasonBook, SenderResolver, SettingsReader
from domain.settings import SenderConnection
from infrastructure.auth.jwt import jwks_client
from infrastructure.auth.push import PubSubPushAuthenticator
from infrastructure.config import Config


class ServicesProvider(Provider):
    scope = Scope.APP

    #: The one send step, one a request (it writes through the request's unit of work), shared
    #: by templates, batches, reminders, follow-ups and second sends (``application.sending``).
    send_step = provide(SendStep, scope=Scope.REQUEST)

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
