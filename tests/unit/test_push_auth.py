"""Who may push shipment events: the shared token, Google's OIDC token, or (unset) anyone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa

from domain.errors import Unauthenticated, UpstreamUnavailable
from entrypoints.http.credentials import bearer_token
from infrastructure.auth.jwt import jwks_client
from infrastructure.auth.push import PubSubPushAuthenticator
from tests.fakes.google_oidc import PUSH_ACCOUNT, PUSH_AUDIENCE, GoogleCerts, push_token
from tests.support.services import free_port

TOKEN = "push-token-0123456789abcdef"


@pytest_asyncio.fixture(loop_scope="session")
async def google() -> AsyncIterator[GoogleCerts]:
    server = GoogleCerts()
    await server.start()
    yield server
    await server.stop()


def oidc(google: GoogleCerts, **changes: str | None) -> PubSubPushAuthenticator:
    values: dict[str, str | None] = {"audience": PUSH_AUDIENCE, "service_account": PUSH_ACCOUNT}
    values.update(changes)
    return PubSubPushAuthenticator(jwks=jwks_client(google.jwks_url), **values)


async def test_nothing_configured_is_open() -> None:
    checker = PubSubPushAuthenticator()
    assert checker.is_open
    await checker.check("", None)


@pytest.mark.parametrize("sent", [None, "", "push-token-0123456789abcdeX", TOKEN + "0"])
async def test_a_configured_token_must_be_sent_exactly(sent: str | None) -> None:
    checker = PubSubPushAuthenticator(token=TOKEN)
    assert not checker.is_open
    with pytest.raises(Unauthenticated):
        await checker.check("", sent)
    await checker.check("", TOKEN)


async def test_googles_token_for_the_push_account_is_accepted(google: GoogleCerts) -> None:
    await oidc(google).check(push_token(), None)
    # Google's tokens say either form of its issuer.
    await oidc(google).check(push_token(iss="accounts.google.com"), None)


def _bearer(**changes: object) -> Callable[[], str]:
    return lambda: f"Bearer {push_token(**changes)}"


def _expired() -> str:
    return f"Bearer {push_token(exp=int((datetime.now(UTC) - timedelta(hours=1)).timestamp()))}"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (lambda: None, "needs Google's OIDC bearer token"),
        (lambda: "Basic dXNlcjpwYXNz", "needs Google's OIDC bearer token"),
        (lambda: "Bearer not-a-jwt", "key is unknown"),
        (_bearer(aud="https://elsewhere.example/push"), "not valid"),
        (_bearer(iss="https://evil.example"), "not valid"),
        (_expired, "not valid"),
        (_bearer(email="someone@evil.example"), "another service account"),
        (_bearer(email_verified=False), "not verified"),
        (_bearer(email=None), "not valid"),
        (_bearer(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), "not valid"),
    ],
)
async def test_what_google_did_not_sign_for_us_is_refused(
    google: GoogleCerts, header: Callable[[], str | None], why: str
) -> None:
    with pytest.raises(Unauthenticated, match=why):
        await oidc(google).check(bearer_token(header()), None)


async def test_token_and_oidc_together_need_both(google: GoogleCerts) -> None:
    checker = PubSubPushAuthenticator(
        token=TOKEN, audience=PUSH_AUDIENCE, jwks=jwks_client(google.jwks_url)
    )
    with pytest.raises(Unauthenticated):
        await checker.check(push_token(), None)
    with pytest.raises(Unauthenticated):
        await checker.check("", TOKEN)
    await checker.check(push_token(), TOKEN)


async def test_googles_keys_unreachable_is_a_dependency_down() -> None:
    checker = PubSubPushAuthenticator(
        audience=PUSH_AUDIENCE,
        jwks=jwks_client(f"http://127.0.0.1:{free_port()}/oauth2/v3/certs"),
    )
    with pytest.raises(UpstreamUnavailable):
        await checker.check(push_token(), None)
