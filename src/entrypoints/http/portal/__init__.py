"""The portal API: ``/api/v1/workspaces/{account_id}/whatsapp/...``, behind a bearer token."""

from __future__ import annotations

from dishka.integrations.litestar import DishkaRouter

from entrypoints.http.portal.auth import workspace_guard
from entrypoints.http.portal.connections import ConnectionsController
from entrypoints.http.portal.conversations import ConversationsController
from entrypoints.http.portal.docs import SECURITY_SCHEME
from entrypoints.http.portal.held_sends import HeldSendsController
from entrypoints.http.portal.hooks import before_portal_request
from entrypoints.http.portal.opt_outs import OptOutsController
from entrypoints.http.portal.settings import SettingsController
from entrypoints.http.portal.stats import OutcomesExportController, StatsController
from entrypoints.http.portal.templates import TemplatesController

PORTAL_PATH = "/api/v1/workspaces/{account_id:int}/whatsapp"


def portal_router() -> DishkaRouter:
    return DishkaRouter(
        PORTAL_PATH,
        route_handlers=[
            SettingsController,
            ConnectionsController,
            TemplatesController,
            ConversationsController,
            HeldSendsController,
            StatsController,
            OutcomesExportController,
            OptOutsController,
        ],
        guards=[workspace_guard],
        before_request=before_portal_request,
        security=[{SECURITY_SCHEME: []}],
    )
