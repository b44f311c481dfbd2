"""The integration engine's connection API over HTTP, and a short-lived cache in front of it.

Wire format (JSON, camelCase like the seed; the engine documents none, so this is ours):

    GET {base}/connection/start?accountId=379&app=whatsapp
    200 {"connections": [{"connectionId": 482, "accountId": 379, "name": "Scitron WhatsApp",
                          "app": "whatsapp", "status": "active",
                          "displayPhoneNumber": "+91 98xxx xx210"}]}

    GET {base}/connection/{connectionId}/credentials
    200 {"connectionId": 482, "accountId": 379, "name": "Scitron WhatsApp", "app": "whatsapp",
         "status": "active", "phoneNumberId": "1065...", "wabaId": "1022...",
         "accessToken": "EAAG...", "appSecret": "9f3c...", "displayPhoneNumber": "+91 98xxx xx210"}
    404 unknown connection

    errors: 4xx/5xx {"error": "<code>", "message": "<text>"} (the body is optional)

Only connections with ``app == "whatsapp"`` and ``status == "active"`` are listed or used: a
connection that is another app, disabled, or missing credentials cannot send anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import msgspec

from application.ports.collaborators import ConnectionDirectory
from application.ttl_cache import TtlCache
from domain.errors import NotFound, UpstreamRejected, UpstreamUnavailable
from domain.settings import ConnectionSummary, SenderConnection
from infrastructure.json_http import JsonHttpService, problem_text
from infrastructure.request_values import fits_a_header, fits_a_path

WHATSAPP_APP = "whatsapp"
ACTIVE = "active"

T = TypeVar("T")


class _ConnectionWire(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    connection_id: int
    account_id: int
    name: str = ""
    app: str = ""
    status: str = ""
    display_phone_number: str = ""


class _ConnectionListWire(msgspec.Struct, frozen=True):
    connections: list[_ConnectionWire]


class _CredentialsWire(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    connection_id: int
    account_id: int
    phone_number_id: str
    waba_id: str
    access_token: str
    app_secret: str
    name: str = ""
    app: str = WHATSAPP_APP
    status: str = ACTIVE
    display_phone_number: str = ""

    def __repr__(self) -> str:
        # msgspec's own repr would print the token and the secret.
        return f"_CredentialsWire(connection_id={self.connection_id}, account_id={self.account_id})"


_list_decoder = msgspec.json.Decoder(_ConnectionListWire)
_credentials_decoder = msgspec.json.Decoder(_CredentialsWire)


def _usable(app: str, status: str) -> bool:
    return app.lower() == WHATSAPP_APP and status.lower() == ACTIVE


def _problem_text(response: httpx.Response) -> str:
    return problem_text(response) or response.reason_phrase


class HttpConnectionDirectory(JsonHttpService):
    """Asks the integration engine; what may pass (5xx, timeouts) is asked again, boundedly."""

    service = "integration engine"
    timeout = 5.0
    backoff = 0.2
    max_backoff = 2.0

    async def connections(self, account_id: int) -> list[ConnectionSummary]:
        response = await self._get(
            "/connection/start", params={"accountId": str(account_id), "app": WHATSAPP_APP}
        )
        if response.is_client_error:
            raise UpstreamRejected(
                f"integration engine refused the connection list of account {account_id}: "
                f"HTTP {response.status_code} {_problem_text(response)}"
            )
        wire = self._decode(_list_decoder, response, f"connection list of account {account_id}")
        return [
            ConnectionSummary(
                connection_id=c.connection_id,
                account_id=c.account_id,
                name=c.name,
                app=c.app.lower(),
                display_phone_number=c.display_phone_number,
            )
            for c in wire.connections
            if c.account_id == account_id and _usable(c.app, c.status)
        ]

    async def sender(self, connection_id: int) -> SenderConnection:
        response = await self._get(f"/connection/{connection_id}/credentials")
        if response.status_code == httpx.codes.NOT_FOUND:
            raise NotFound("connection", connection_id)
        if response.is_client_error:
            raise UpstreamRejected(
                f"integration engine refused the credentials of connection {connection_id}: "
                f"HTTP {response.status_code} {_problem_text(response)}"
            )
        wire = self._decode(
            _credentials_decoder, response, f"credentials of connection {connection_id}"
        )
        if not _usable(wire.app, wire.status):
            raise NotFound("connection", connection_id)
        # Read as the configuration reads its own (stripped): a token pasted with the newline
        # of a copied line is the token (docs/meta.md#the-http-client).
        phone_number_id, waba_id = wire.phone_number_id.strip(), wire.waba_id.strip()
        access_token, app_secret = wire.access_token.strip(), wire.app_secret.strip()
        missing = [
            name
            for name, value in (
                ("phoneNumberId", phone_number_id),
                ("wabaId", waba_id),
                ("accessToken", access_token),
                ("appSecret", app_secret),
            )
            if not value
        ]
        if missing:
            raise UpstreamRejected(
                f"connection {connection_id} has incomplete credentials: {', '.join(missing)}"
            )
        # Sent in the URL's path and the Authorization header: a control character would break
        # the request (or add a header to it), a '/' send it elsewhere. Not sent with, then
        # (SenderResolver says why, never the value); the app secret still checks webhooks.
        unusable = tuple(
            name
            for name, value, allowed in (
                ("phoneNumberId", phone_number_id, fits_a_path),
                ("wabaId", waba_id, fits_a_path),
                ("accessToken", access_token, fits_a_header),
            )
            if not allowed(value)
        )
        return SenderConnection(
            connection_id=wire.connection_id,
            account_id=wire.account_id,
            phone_number_id=phone_number_id,
            waba_id=waba_id,
            access_token=access_token,
            app_secret=app_secret,
            display_phone_number=wire.display_phone_number,
            name=wire.name,
            unusable=unusable,
        )

    def _decode(self, decoder: msgspec.json.Decoder[T], response: httpx.Response, what: str) -> T:
        try:
            return decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            # msgspec names the path, never the value: safe to show even for credentials.
            raise UpstreamUnavailable(
                f"integration engine sent an unreadable {what}: {exc}"
            ) from exc

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return await self._call("GET", path, params=params)


class CachedConnectionDirectory:
    """Answers from memory for ``ttl`` seconds: every send needs the sender's credentials.

    Failures (``NotFound``, ``Upstream*``) are not cached. A connection whose token was rotated
    in the engine is seen within ``ttl``; ``invalidate()`` forgets everything at once (e.g. after
    Meta answers that the token is no longer valid), answers still on their way included.
    """

    def __init__(
        self,
        inner: ConnectionDirectory,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._lists: TtlCache[int, tuple[ConnectionSummary, ...]] = TtlCache(
            ttl, monotonic=monotonic
        )
        self._senders: TtlCache[int, SenderConnection] = TtlCache(ttl, monotonic=monotonic)

    async def connections(self, account_id: int) -> list[ConnectionSummary]:
        cached = self._lists.get(account_id)
        if cached is None:
            generation = self._lists.generation(account_id)
            cached = tuple(await self._inner.connections(account_id))
            self._lists.put(account_id, cached, generation)
        return list(cached)

    async def sender(self, connection_id: int) -> SenderConnection:
        cached = self._senders.get(connection_id)
        if cached is None:
            generation = self._senders.generation(connection_id)
            cached = await self._inner.sender(connection_id)
            self._senders.put(connection_id, cached, generation)
        return cached

    def invalidate(self) -> None:
        self._lists.clear()
        self._senders.clear()
