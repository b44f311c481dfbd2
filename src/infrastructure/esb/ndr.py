"""The ESB's NDR API over HTTP: the shopper's answer becomes a change to the shipment.

The wire format (ours: the ESB documents none), its answers and how each is read are in
``docs/esb.md``; ``NdrNotification`` is the body, ``idempotency_key`` its key.
"""

from __future__ import annotations

from datetime import date

import httpx
import msgspec
import structlog

from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.ndr import NdrAction
from infrastructure.json_http import TEXT_LIMIT, JsonHttpService, problem_text

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
    """What is read of an answer: any other field, or no JSON at all, is fine."""

    reference_id: str | int | None = None


_encoder = msgspec.json.Encoder()
_answer_decoder = msgspec.json.Decoder(_AnswerWire)


def _reference(response: httpx.Response) -> str:
    """The ESB's reference for the action, ``""`` when it gave none (it need not)."""
    try:
        reference = _answer_decoder.decode(response.content).reference_id
    except msgspec.DecodeError:
        return ""
    return "" if reference is None else str(reference).strip()[:TEXT_LIMIT]


class HttpNdrActions(JsonHttpService):
    """Posts one notification per action; retries with the same key are safe by design.

    The authentication header, if the ESB wants one (``WA_ESB_TOKEN``), is set on the client.
    """

    service = "ESB"
    _log = structlog.get_logger("esb")

    async def perform(self, action: NdrAction) -> str:
        notification = NdrNotification.of(action)
        headers = {"Idempotency-Key": notification.request_id, "Content-Type": "application/json"}
        what = f"{action.kind.value} of shipment {action.shipment_id}"
        response = await self._call(
            "POST", NDR_PATH, what=what, content=_encoder.encode(notification), headers=headers
        )
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
        # Only the ESB's ``message`` is its word on the shipment (docs/esb.md).
        reason = problem_text(response, error_field=False) if response.is_client_error else ""
        if reason:
            raise UpstreamRejected(f"ESB refused {what}: HTTP {status} {reason}")
        # A redirect or a bare 4xx is a proxy or a wrong URL rather than the ESB's word on
        # this shipment; the same key makes asking again safe.
        raise UpstreamUnavailable(f"ESB answered {what} with HTTP {status} and no reason")
