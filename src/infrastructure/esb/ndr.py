"""The ESB's NDR API over HTTP: the shopper's answer becomes a change to the shipment.

The wire format (ours: the ESB documents none), its answers and how each is read are in
``docs/esb.md``; ``NdrNotification`` is the body, ``idempotency_key`` its key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date

import httpx
import msgspec
import structlog

from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.ndr import NdrAction
from infrastructure.http_retry import RetryPolicy, with_retries
from infrastructure.logging import mask_phones

NDR_PATH = "/_ah/ESB/v1/ndrNotification"
SOURCE = "whatsapp"


def idempotency_key(action: NdrAction) -> str:
    """Stable across retries and processes: the same action always carries the same key."""
    return f"fdr-whatsapp:ndr:{action.conversation_id}:{action.kind.value}"


class NdrNotification(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The request body; ``None`` fields are sent as ``null``."""

    account_id: int
    shipment_id: int
    external_shipment_id: str
    action: str
    delivery_date: date | None
    phone: str | None
    address: str | None
    disputed_fake_attempt: bool
    source: str
    request_id: str

    def __repr__(self) -> str:
        # The default repr would print the shopper's full number.
        return (
            f"NdrNotification(action={self.action!r}, shipment_id={self.shipment_id}, "
            f"request_id={self.request_id!r})"
        )

    @classmethod
    def of(cls, action: NdrAction) -> NdrNotification:
        return cls(
            account_id=action.account_id,
            shipment_id=action.shipment_id,
            external_shipment_id=action.external_shipment_id,
            action=action.kind.value,
            delivery_date=action.delivery_date,
            phone=action.phone,
            address=action.address,
            disputed_fake_attempt=action.disputed_fake_attempt,
            source=SOURCE,
            request_id=idempotency_key(action),
        )


class _AnswerWire(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What is read of an answer: any other field, or no JSON at all, is fine."""

    reference_id: str | int | None = None
    message: str | None = None


_encoder = msgspec.json.Encoder()
_answer_decoder = msgspec.json.Decoder(_AnswerWire)
#: Enough for any reference or reason the ESB gives; more is noise in ``wa_ndr_actions``.
_TEXT_LIMIT = 200


def _answer(response: httpx.Response) -> _AnswerWire:
    try:
        return _answer_decoder.decode(response.content)
    except msgspec.DecodeError:
        return _AnswerWire()


def _reference(response: httpx.Response) -> str:
    """The ESB's reference for the action, ``""`` when it gave none (it need not)."""
    reference = _answer(response).reference_id
    return "" if reference is None else str(reference).strip()[:_TEXT_LIMIT]


def _reason(response: httpx.Response) -> str:
    """Why the ESB refused, in its words (JSON ``message`` or a plain-text body); ``""`` if none."""
    text = _answer(response).message or ""
    if not text and response.headers.get("content-type", "").startswith("text/plain"):
        text = response.text
    # The ESB may echo the phone number it was sent.
    return mask_phones(" ".join(text.split()))[:_TEXT_LIMIT]


class HttpNdrActions:
    """Posts one notification per action; retries with the same key are safe by design.

    ``client`` is owned by the caller (one client per outbound service); the authentication
    header, if the ESB wants one (``WA_ESB_TOKEN``), is set on it.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 4.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._retry = RetryPolicy(attempts, backoff, max_backoff, sleep)
        self._client = client
        self._url = base_url.rstrip("/") + NDR_PATH
        self._timeout = timeout
        self._log = structlog.get_logger("esb")

    async def perform(self, action: NdrAction) -> str:
        notification = NdrNotification.of(action)
        body = _encoder.encode(notification)
        headers = {"Idempotency-Key": notification.request_id, "Content-Type": "application/json"}
        what = f"{action.kind.value} of shipment {action.shipment_id}"
        response = await self._post(body, headers, what)
        status = response.status_code
        if response.is_success:
            reference = _reference(response)
            self._log.info(
                "ndr action sent",
                action=action.kind.value,
                shipment_id=action.shipment_id,
                reference=reference or None,
            )
            return reference
        if status in (401, 403):
            # Our credentials, not the shopper's request: asking again once they are fixed works.
            raise UpstreamUnavailable(
                f"ESB refused our credentials for {what}: HTTP {status} (check WA_ESB_TOKEN)"
            )
        reason = _reason(response) if response.is_client_error else ""
        if reason:
            raise UpstreamRejected(f"ESB refused {what}: HTTP {status} {reason}")
        # A redirect or a bare 4xx is a proxy or a wrong URL rather than the ESB's word on
        # this shipment; the same key makes asking again safe.
        raise UpstreamUnavailable(f"ESB answered {what} with HTTP {status} and no reason")

    async def _post(self, body: bytes, headers: dict[str, str], what: str) -> httpx.Response:
        return await with_retries(
            lambda: self._client.post(
                self._url, content=body, headers=headers, timeout=self._timeout
            ),
            self._retry,
            f"ESB ({what})",
        )
