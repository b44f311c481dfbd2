"""The portal's door: every route checks the bearer token names the workspace in its path.

``with_dev_secret`` and ``dev_token`` let ``fdr-whatsapp demo`` run the portal API without an
identity provider: a random secret for this run, and a token for it to print.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import structlog
from dishka import AsyncContainer
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from application.ports.auth import TokenVerifier
from domain.errors import Forbidden
from entrypoints.http.credentials import bearer_token
from infrastructure.auth.jwt import OPERATOR, mint_token
from infrastructure.config import Config

_log = structlog.get_logger("auth")

ACCOUNT_PARAM = "account_id"


async def workspace_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """401 without a valid token, 403 when the token does not name the path's workspace."""
    container: AsyncContainer = connection.state.dishka_container
    verifier = await container.get(TokenVerifier)
    caller = await verifier.verify(bearer_token(connection.headers.get("authorization")))
    account_id = connection.path_params.get(ACCOUNT_PARAM)
    if not isinstance(account_id, int) or not caller.may_manage(account_id):
        _log.info("portal call refused", subject=caller.subject, account_id=account_id)
        raise Forbidden(f"the token does not allow workspace {account_id}")


def with_dev_secret(config: Config) -> Config:
    """``config`` with a random HS256 secret for this run, unless authentication is configured."""
    if config.auth_jwt_secret or config.auth_jwks_url:
        return config
    return dataclasses.replace(config, auth_jwt_secret=secrets.token_urlsafe(48))


def dev_token(
    config_or_secret: Config | str,
    accounts: Iterable[int | str] = (OPERATOR,),
    *,
    subject: str = "demo",
    expires_in: timedelta = timedelta(hours=12),
) -> str:
    """A token the portal accepts, for ``accounts`` (default: every workspace)."""
    secret = (
        config_or_secret if isinstance(config_or_secret, str) else config_or_secret.auth_jwt_secret
    )
    if not secret:
        raise ValueError("no HS256 secret configured: call with_dev_secret(config) first")
    return mint_token(secret, subject=subject, accounts=accounts, expires_in=expires_in)
