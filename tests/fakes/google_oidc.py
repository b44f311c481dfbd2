"""Google's OIDC signing keys for Pub/Sub push tokens: a JWKS server and tokens shaped like the
ones a push subscription sends (RS256; ``aud``, ``iss``, ``email``, ``email_verified``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.server import FakeServer

GOOGLE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_ID = "google-1"
PUSH_ACCOUNT = "pubsub-push@eshopbox-prod.iam.gserviceaccount.com"
PUSH_AUDIENCE = "https://wa.eshopbox.example/pubsub/push/fdr"


class GoogleCerts(FakeServer):
    """``GET /oauth2/v3/certs``, as ``https://www.googleapis.com/oauth2/v3/certs`` answers."""

    def _routes(self, app: web.Application) -> None:
        key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(GOOGLE_KEY.public_key()))
        keys = [{**key, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]

        async def certs(_: web.Request) -> web.Response:
            return web.json_response({"keys": keys})

        app.router.add_get("/oauth2/v3/certs", certs)

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/oauth2/v3/certs"


def push_token(key: Any = GOOGLE_KEY, **changes: Any) -> str:
    """A push subscription's OIDC token; ``changes`` replace claims (None drops one)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "aud": PUSH_AUDIENCE,
        "azp": "110222333444555666777",
        "email": PUSH_ACCOUNT,
        "email_verified": True,
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "iat": int(now.timestamp()),
        "iss": "https://accounts.google.com",
        "sub": "110222333444555666777",
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})
