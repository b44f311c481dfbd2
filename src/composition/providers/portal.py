"""The portal: the token verifier (the portal is closed, 503, until ``PORTAL_AUTH``), its read
side and its use cases."""

from __future__ import annotations

from dishka import Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.auth import TokenVerifier
from application.ports.portal import PortalQueries
from application.use_cases.portal.create_template import CreateTemplate
from application.use_cases.portal.delete_template import DeleteTemplate
from application.use_cases.portal.export_outcomes import ExportOutcomes
from application.use_cases.portal.get_channel_settings import GetChannelSettings
from application.use_cases.portal.get_conversation_thread import GetConversationThread
from application.use_cases.portal.get_cost_stats import GetCostStats
from application.use_cases.portal.get_funnel_stats import GetFunnelStats
from application.use_cases.portal.get_template import GetTemplate
from application.use_cases.portal.list_conversations import ListConversations
from application.use_cases.portal.list_held_sends import ListHeldSends
from application.use_cases.portal.list_sender_connections import ListSenderConnections
from application.use_cases.portal.list_templates import ListTemplates
from application.use_cases.portal.opt_outs import ClearOptOut, ListOptOuts
from application.use_cases.portal.show_conversation import ShowConversation
from application.use_cases.portal.update_channel_settings import UpdateChannelSettings
from application.use_cases.portal.update_template import UpdateTemplate
from application.use_cases.portal.verify_template import VerifyTemplate
from composition.activation import PORTAL_AUTH
from infrastructure.auth.jwt import JwtTokenVerifier, UnconfiguredTokenVerifier, jwks_client
from infrastructure.config import Config
from infrastructure.db.repositories.portal import SqlPortalQueries


class PortalProvider(Provider):
    @provide(scope=Scope.APP)
    def token_verifier(self) -> TokenVerifier:
        return UnconfiguredTokenVerifier()

    @provide(scope=Scope.APP, when=PORTAL_AUTH)
    def jwt_token_verifier(self, config: Config) -> TokenVerifier:
        return JwtTokenVerifier(
            secret=config.auth_jwt_secret,
            jwks=jwks_client(config.auth_jwks_url) if config.auth_jwks_url else None,
            audience=config.auth_audience,
        )

    @provide(scope=Scope.APP)
    def portal_queries(self, engine: AsyncEngine) -> PortalQueries:
        return SqlPortalQueries(engine)

    get_settings = provide(GetChannelSettings, scope=Scope.REQUEST)
    update_settings = provide(UpdateChannelSettings, scope=Scope.REQUEST)
    connections = provide(ListSenderConnections, scope=Scope.REQUEST)
    list_templates = provide(ListTemplates, scope=Scope.REQUEST)
    get_template = provide(GetTemplate, scope=Scope.REQUEST)
    create_template = provide(CreateTemplate, scope=Scope.REQUEST)
    update_template = provide(UpdateTemplate, scope=Scope.REQUEST)
    delete_template = provide(DeleteTemplate, scope=Scope.REQUEST)
    verify_template = provide(VerifyTemplate, scope=Scope.REQUEST)
    conversations = provide(ListConversations, scope=Scope.REQUEST)
    held_sends = provide(ListHeldSends, scope=Scope.REQUEST)
    thread = provide(GetConversationThread, scope=Scope.REQUEST)
    shown = provide(ShowConversation, scope=Scope.REQUEST)
    stats = provide(GetFunnelStats, scope=Scope.REQUEST)
    export_outcomes = provide(ExportOutcomes, scope=Scope.REQUEST)
    cost = provide(GetCostStats, scope=Scope.REQUEST)
    opt_outs = provide(ListOptOuts, scope=Scope.REQUEST)
    clear_opt_out = provide(ClearOptOut, scope=Scope.REQUEST)
