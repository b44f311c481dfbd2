"""Bearer JWTs (PyJWT): HS256 with a shared secret, RS256/ES256 with keys from a JWKS URL.

Claims: ``sub`` (who), ``accounts`` (account ids the caller may manage, ``["*"]`` for Eshopbox
operators), ``exp`` (required). The algorithm is chosen by the key source, never by the token
alone: an HS256 token is only checked against the secret, an RS256/ES256 token only against the
JWKS, so a public key can never be used as an HMAC secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import structlog

from application.ports.auth import Caller
from domain.errors import NotConfigured, Unauthenticated, UpstreamUnavailable

HMAC_ALGORITHM = "HS256"
KEY_PAIR_ALGORITHMS = ("RS256", "ES256")
OPERATOR = "*"
#: Clock drift tolerated between the token's issuer and us.
LEEWAY_SECONDS = 30

_log = structlog.get_logger("auth")


class JwtTokenVerifier:
    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks: jwt.PyJWKClient | None = None,
        audience: str | None = None,
    ) -> None:
        if secret is None and jwks is None:
            raise ValueError("a secret or a JWKS client is required")
        self._secret = secret
        self._jwks = jwks
        self._audience = audience

    async def verify(self, token: str) -> Caller:
        if not token:
            raise Unauthenticated("a bearer token is required")
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        key = await self._key(token, algorithm)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the bearer token is not valid: {exc}") from None
        return caller_from(claims)

    async def _key(self, token: str, algorithm: object) -> Any:
        if algorithm == HMAC_ALGORITHM and self._secret is not None:
            return self._secret
        if algorithm in KEY_PAIR_ALGORITHMS and self._jwks is not None:
            return await signing_key(self._jwks, token, "the portal's")
        raise Unauthenticated(f"tokens signed with {algorithm} are not accepted")


async def signing_key(jwks: jwt.PyJWKClient, token: str, whose: str) -> Any:
    """The key ``token`` names (its ``kid``) from the JWKS; ``Unauthenticated`` when there is
    none, ``UpstreamUnavailable`` when the set cannot be fetched."""
    try:
        # PyJWKClient fetches with urllib (blocking); its cache keeps this rare.
        found = await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)
    except jwt.PyJWKClientConnectionError as exc:
        _log.warning("JWKS unreachable", whose=whose, error=str(exc))
        raise UpstreamUnavailable(f"{whose} signing keys cannot be fetched") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the bearer token's key is unknown: {exc}") from None
    return found.key


def caller_from(claims: dict[str, Any]) -> Caller:
    subject = claims.get("sub")
    accounts = claims.get("accounts", [])
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the bearer token has no subject")
    if not isinstance(accounts, list):
        raise Unauthenticated("the accounts claim must be a list")
    ids: set[int] = set()
    operator = False
    for entry in accounts:
        if entry == OPERATOR:
            operator = True
        elif isinstance(entry, int) and not isinstance(entry, bool):
            ids.add(entry)
        elif isinstance(entry, str) and entry.isdigit():
            ids.add(int(entry))
        else:
            raise Unauthenticated("the accounts claim holds something that is not an account id")
    return Caller(subject=subject, accounts=frozenset(ids), operator=operator)


class UnconfiguredTokenVerifier:
    """No secret and no JWKS URL: the portal refuses every call (fail closed)."""

    async def verify(self, token: str) -> Caller:
        raise NotConfigured("portal authentication is not configured")


def jwks_client(url: str) -> jwt.PyJWKClient:
    """Keys cached for five minutes; an unknown ``kid`` makes it fetch the set again."""
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def mint_token(
    secret: str,
    *,
    subject: str,
    accounts: Iterable[int | str],
    expires_in: timedelta = timedelta(hours=12),
    now: datetime | None = None,
) -> str:
    """An HS256 token the verifier accepts with ``secret`` (demo and tests)."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": subject,
        "accounts": list(accounts),
        "iat": int(issued.timestamp()),
        "exp": int((issued + expires_in).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=HMAC_ALGORITHM)
