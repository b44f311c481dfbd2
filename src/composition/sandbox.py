"""The container of ``fdr-whatsapp sandbox``: the demo's database and the console's view of a
conversation, nothing else.

Each sandbox command is a short process that reads a few rows (and POSTs to the demo over
HTTP); the service's container would import every adapter (Redis, Pub/Sub, Meta, the ESB, the
web app) only to leave them unused, seconds of start-up for each command.
"""

from __future__ import annotations

from dishka import AsyncContainer, Provider, Scope, from_context, make_async_container, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.portal import PortalQueries
from application.services import NotificationOptions
from application.use_cases.portal.get_conversation_thread import GetConversationThread
from application.use_cases.portal.get_template import GetTemplate
from application.use_cases.portal.show_conversation import ShowConversation
from composition.options import notification_options
from composition.providers.db import DatabaseProvider
from infrastructure.config import Config
from infrastructure.db.repositories.portal import SqlPortalQueries


class SandboxProvider(Provider):
    scope = Scope.REQUEST
    config = from_context(provides=Config, scope=Scope.APP)
    thread = provide(GetConversationThread)
    template = provide(GetTemplate)
    shown = provide(ShowConversation)

    @provide(scope=Scope.APP)
    def options(self, config: Config) -> NotificationOptions:
        return notification_options(config)

    @provide(scope=Scope.APP)
    def portal_queries(self, engine: AsyncEngine) -> PortalQueries:
        return SqlPortalQueries(engine)


def build_sandbox_container(config: Config) -> AsyncContainer:
    return make_async_container(DatabaseProvider(), SandboxProvider(), context={Config: config})
