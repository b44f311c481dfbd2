"""The ESB's NDR API over HTTP: the shopper's answer becomes a change to the shipment.

Wire format (JSON, camelCase like the seed; the ESB documents none, so this is ours):

    POST {base}/_ah/ESB/v1/ndrNotification
    Idempotency-Key: fdr-whatsapp:ndr:<conversationId>:<action>
    {"accountId": 379, "shipmentId": 17148471, "externalShipmentId": "4980116095129-90758",
     "action": "reschedule" | "reattempt" | "cancel" | "update_phone",
     "deliveryDate": "2023-06-12" | null,      # required for reschedule, null otherwise
     "phone": "917891971009" | null,           # E.164 digits; required for update_phone
     "disputedFakeAttempt": false,             # true only on reattempt ("I didn't refuse")
     "source": "whatsapp", "requestId": "<the Idempotency-Key>"}

    2xx {"status": "ok", "referenceId": "NDR-1234"}   -> the reference is returned
    4xx {"status": "error", "message": "<why>"}       -> UpstreamRejected (not retried)
    5xx, 408, 429, timeout, dropped connection        -> retried, then UpstreamUnavailable

The key is one per conversation and action kind (the same unit ``wa_ndr_actions`` keeps unique),
so a retry after a timeout, or a second tap on the same button, is deduplicated by the ESB.
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
            disputed_fake_attempt=action.disputed_fake_attempt,
            source=SOURCE,
            request_id=idempotency_key(action),
        )


class _AnswerWire(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    status: str = ""
    reference_id: str = ""
    message: str = ""


_encoder = msgspec.json.Encoder()
_answer_decoder = msgspec.json.Decoder(_AnswerWire)


def _answer(response: httpx.Response) -> _AnswerWire | None:
    try:
        return _answer_decoder.decode(response.content)
    except msgspec.DecodeError:
        return None


def _why(answer: _AnswerWire | None, response: httpx.Response) -> str:
    text = (answer.message if answer else "") or response.reason_phrase
    # The ESB may echo the phone number it was sent.
    return mask_phones(text)[:200]


class HttpNdrActions:
    """Posts one notification per action; retries with the same key are safe by design.

    ``client`` is owned by the caller (one client per outbound service); authentication headers,
    if the ESB wants any, belong on it.
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
        answer = _answer(response)
        if response.is_client_error:
            raise UpstreamRejected(
                f"ESB refused {what}: HTTP {response.status_code} {_why(answer, response)}"
            )
        if answer is None:
            # The ESB may well have acted; asking again with the same key is safe, so say
            # "unavailable" and let the caller retry rather than record a failure.
            raise UpstreamUnavailable(f"ESB sent an unreadable answer to {what}")
        if answer.status.lower() != "ok":
            raise UpstreamRejected(f"ESB refused {what}: {_why(answer, response)}")
        if not answer.reference_id:
            raise UpstreamUnavailable(f"ESB answered {what} without a reference")
        self._log.info(
            "ndr action sent",
            action=action.kind.value,
            shipment_id=action.shipment_id,
            reference=answer.reference_id,
        )
        return answer.reference_id

    async def _post(self, body: bytes, headers: dict[str, str], what: str) -> httpx.Response:
        return await with_retries(
            lambda: self._client.post(
                self._url, content=body, headers=headers, timeout=self._timeout
            ),
            self._retry,
            f"ESB ({what})",
        )
