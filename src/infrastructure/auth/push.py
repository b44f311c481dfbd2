"""Pub/Sub push authentication, the two ways Google documents for push endpoints.

- A **token** in the push endpoint's URL (``/pubsub/push/fdr?token=...``), compared in
  constant time.
- **OIDC**: the push subscription signs each request with a Google-issued JWT for a service
  account (``Authorization: Bearer ...``; RS256, Google's keys). Checked: signature, ``exp``,
  ``aud`` (the audience set on the subscription), ``iss`` (Google), ``email`` (that service
  account) and ``email_verified``.

Both may be required at once. With neither configured the endpoint is open (the demo, or a
push endpoint reachable only inside the cluster); start-up says so in a warning.
"""

from __future__ import annotations

import hmac
from typing import Any

import jwt

from domain.errors import Unauthenticated
from infrastructure.auth.jwt import LEEWAY_SECONDS, signing_key

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


class PubSubPushAuthenticator:
    def __init__(
        self,
        *,
        token: str | None = None,
        audience: str | None = None,
        service_account: str | None = None,
        jwks: jwt.PyJWKClient | None = None,
    ) -> None:
        if audience is not None and jwks is None:
            raise ValueError("an OIDC audience needs Google's keys (a JWKS client)")
        self._token = token
        self._audience = audience
        self._service_account = service_account
        self._jwks = jwks

    @property
    def is_open(self) -> bool:
        return self._token is None and self._audience is None

    async def check(self, bearer: str, token: str | None) -> None:
        if self._token is not None and not (
            token and hmac.compare_digest(token.encode(), self._token.encode())
        ):
            raise Unauthenticated("the push token is missing or wrong")
        if self._audience is not None:
            await self._check_oidc(bearer)

    async def _check_oidc(self, bearer: str) -> None:
        if not bearer:
            raise Unauthenticated("a push needs Google's OIDC bearer token")
        assert self._jwks is not None
        key = await signing_key(self._jwks, bearer, "Google's")
        try:
            claims: dict[str, Any] = jwt.decode(
                bearer,
                key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=GOOGLE_ISSUERS,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "email"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the push token is not valid: {exc}") from None
        if claims.get("email_verified") is not True:
            raise Unauthenticated("the push token's email is not verified")
        if self._service_account is not None and claims.get("email") != self._service_account:
            raise Unauthenticated("the push token is for another service account")
