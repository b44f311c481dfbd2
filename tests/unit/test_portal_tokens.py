"""Portal tokens: HS256 with the secret, RS256/ES256 from a JWKS, and nothing else."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from domain.errors import NotConfigured, Unauthenticated, UpstreamUnavailable
from entrypoints.http.portal.auth import dev_token, with_dev_secret
from infrastructure.auth.jwt import (
    JwtTokenVerifier,
    UnconfiguredTokenVerifier,
    jwks_client,
    mint_token,
)
from infrastructure.config import Config
from tests.fakes.server import FakeServer
from tests.support.portal import SECRET, token
from tests.support.services import free_port

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _claims(**changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "ops@eshopbox.example",
        "accounts": [379, "380"],
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


class Jwks(FakeServer):
    def _routes(self, app: web.Application) -> None:
        keys = [
            {
                **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key())),
                "kid": "rsa-1",
            },
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key())), "kid": "ec-1"},
        ]

        async def serve(_: web.Request) -> web.Response:
            return web.json_response({"keys": keys})

        app.router.add_get("/jwks.json", serve)


@pytest_asyncio.fixture(loop_scope="session")
async def jwks() -> AsyncIterator[Jwks]:
    server = Jwks()
    await server.start()
    yield server
    await server.stop()


async def test_an_hs256_token_names_its_subject_and_accounts() -> None:
    caller = await JwtTokenVerifier(secret=SECRET).verify(token(379, "380"))
    assert caller.subject == "support@brand.example"
    assert caller.accounts == {379, 380}
    assert caller.may_manage(379)
    assert not caller.may_manage(381)


async def test_star_is_an_eshopbox_operator() -> None:
    caller = await JwtTokenVerifier(secret=SECRET).verify(token("*"))
    assert caller.operator
    assert caller.may_manage(123456)


def _hs256(**changes: Any) -> str:
    return jwt.encode(_claims(**changes), SECRET, algorithm="HS256")


# Built inside each test, never at collection: a token made when the suite starts may have
# expired by the time a slow run reaches it.
@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (lambda: "", "required"),
        (lambda: "not-a-jwt", "not a JWT"),
        (lambda: token(379, expires_in=timedelta(minutes=-5)), "expired"),
        (lambda: token(379, secret="another-secret-of-enough-length-0123456789"), "not valid"),
        (lambda: jwt.encode(_claims(), key="", algorithm="none"), "not accepted"),
        (lambda: _hs256(exp=None), "exp"),
        (lambda: _hs256(sub=None), "sub"),
        (lambda: _hs256(accounts="379"), "list"),
        (lambda: _hs256(accounts=[True]), "account id"),
        (lambda: jwt.encode(_claims(), SECRET * 2, algorithm="HS512"), "not accepted"),
    ],
    ids=[
        "empty",
        "not-a-jwt",
        "expired",
        "other-secret",
        "alg-none",
        "no-exp",
        "no-sub",
        "accounts-not-a-list",
        "account-not-an-id",
        "hs512",
    ],
)
async def test_what_is_refused(bad: Callable[[], str], why: str) -> None:
    with pytest.raises(Unauthenticated, match=why):
        await JwtTokenVerifier(secret=SECRET).verify(bad())


async def test_an_audience_is_checked_when_configured() -> None:
    verifier = JwtTokenVerifier(secret=SECRET, audience="portal")
    good = jwt.encode(_claims(aud="portal"), SECRET, algorithm="HS256")
    wrong = jwt.encode(_claims(aud="billing"), SECRET, algorithm="HS256")
    assert (await verifier.verify(good)).accounts == {379, 380}
    with pytest.raises(Unauthenticated):
        await verifier.verify(wrong)
    with pytest.raises(Unauthenticated):
        await verifier.verify(jwt.encode(_claims(), SECRET, algorithm="HS256"))


async def test_rs256_and_es256_tokens_are_checked_with_the_jwks(jwks: Jwks) -> None:
    verifier = JwtTokenVerifier(jwks=jwks_client(f"{jwks.url}/jwks.json"))
    rs = jwt.encode(_claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(_claims(), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier.verify(rs)).subject == "ops@eshopbox.example"
    assert (await verifier.verify(es)).accounts == {379, 380}
    assert len(jwks.requests) == 1  # the keys are cached


async def test_a_key_not_in_the_jwks_is_refused(jwks: Jwks) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = JwtTokenVerifier(jwks=jwks_client(f"{jwks.url}/jwks.json"))
    forged = jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": "rsa-1"})
    unknown = jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": "nope"})
    with pytest.raises(Unauthenticated):
        await verifier.verify(forged)
    with pytest.raises(Unauthenticated):
        await verifier.verify(unknown)


async def test_the_public_key_is_never_an_hmac_secret(jwks: Jwks) -> None:
    """The classic algorithm confusion: HS256 signed with the RSA public key."""
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = jwt.utils.base64url_encode(json.dumps(_claims()).encode())
    signature = hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    forged = (header + b"." + body + b"." + jwt.utils.base64url_encode(signature)).decode()
    verifier = JwtTokenVerifier(jwks=jwks_client(f"{jwks.url}/jwks.json"))
    with pytest.raises(Unauthenticated, match="not accepted"):
        await verifier.verify(forged)


async def test_an_unreachable_jwks_is_a_dependency_down() -> None:
    verifier = JwtTokenVerifier(jwks=jwks_client(f"http://127.0.0.1:{free_port()}/jwks.json"))
    rs = jwt.encode(_claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(UpstreamUnavailable):
        await verifier.verify(rs)


async def test_without_a_secret_or_jwks_every_call_is_refused() -> None:
    with pytest.raises(NotConfigured, match="not configured"):
        await UnconfiguredTokenVerifier().verify(token("*"))


async def test_the_demo_gets_a_secret_of_its_own_and_a_token_for_it() -> None:
    config = with_dev_secret(Config())
    assert config.auth_jwt_secret is not None
    assert len(config.auth_jwt_secret) >= 32
    assert with_dev_secret(config) is config
    assert with_dev_secret(Config()).auth_jwt_secret != config.auth_jwt_secret
    caller = await JwtTokenVerifier(secret=config.auth_jwt_secret).verify(dev_token(config))
    assert caller.operator
    scoped = await JwtTokenVerifier(secret=config.auth_jwt_secret).verify(
        dev_token(config.auth_jwt_secret, [379], subject="brand")
    )
    assert (scoped.subject, set(scoped.accounts), scoped.operator) == ("brand", {379}, False)
    with pytest.raises(ValueError, match="with_dev_secret"):
        dev_token(Config())


async def test_a_configured_secret_is_kept() -> None:
    config = Config(auth_jwt_secret=SECRET)
    assert with_dev_secret(config) is config
    assert mint_token(SECRET, subject="x", accounts=[1]).count(".") == 2
