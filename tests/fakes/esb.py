"""A local ESB speaking the NDR notification format of ``docs/esb.md``."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date

import msgspec
from aiohttp import web

from tests.fakes.server import FakeServer, json_error

NDR_PATH = "/_ah/ESB/v1/ndrNotification"
ACTIONS = frozenset({"reschedule", "reattempt", "cancel", "update_phone", "update_address"})
_E164_DIGITS = re.compile(r"\d{8,15}")


class Notification(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Every field must be present (``null`` where allowed); unknown ones are ignored."""

    account_id: int
    shipment_id: int
    external_shipment_id: str
    action: str
    delivery_date: str | None
    phone: str | None
    address: str | None
    disputed_fake_attempt: bool
    source: str
    request_id: str


@dataclass(frozen=True, slots=True)
class RecordedAction:
    notification: Notification
    idempotency_key: str
    reference: str


def _problem(n: Notification, key: str) -> str | None:
    """What is wrong with a well-formed notification, the way the ESB would say it."""
    checks = [
        (n.account_id > 0, "accountId must be positive"),
        (n.shipment_id > 0, "shipmentId must be positive"),
        (n.action in ACTIONS, f"action must be one of {sorted(ACTIONS)}"),
        (n.source == "whatsapp", "source must be 'whatsapp'"),
        (n.request_id == key, "requestId must equal the Idempotency-Key header"),
        (
            (n.delivery_date is not None) == (n.action == "reschedule"),
            "deliveryDate is required for reschedule and only for it",
        ),
        (
            n.action != "update_phone" or bool(_E164_DIGITS.fullmatch(n.phone or "")),
            "phone must be E.164 digits for update_phone",
        ),
        (
            bool(n.address) == (n.action == "update_address"),
            "address is required for update_address and only for it",
        ),
        (
            not n.disputed_fake_attempt or n.action == "reattempt",
            "disputedFakeAttempt is only for reattempt",
        ),
    ]
    for ok, message in checks:
        if not ok:
            return message
    if n.delivery_date is not None:
        try:
            date.fromisoformat(n.delivery_date)
        except ValueError:
            return "deliveryDate must be YYYY-MM-DD"
        if len(n.delivery_date) != len("YYYY-MM-DD"):
            return "deliveryDate must be YYYY-MM-DD"
    return None


class FakeEsb(FakeServer):
    """Records each distinct action once; a repeated Idempotency-Key replays the first answer.

    With ``token`` set, a request without ``Authorization: Bearer <token>`` gets 401.
    """

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.actions: list[RecordedAction] = []
        self._by_key: dict[str, RecordedAction] = {}
        self._refusals: dict[tuple[int, str | None], tuple[int, str]] = {}
        self._numbers = itertools.count(1001)
        self._token = token
        self._acknowledgement: tuple[int, bytes | None, str] | None = None
        self._odd_refusals: dict[int, tuple[int, bytes | None, str]] = {}

    def acknowledge_with(
        self, status: int, body: bytes | None, content_type: str = "application/json"
    ) -> None:
        """Actions taken from now on are answered ``status`` with ``body`` (no reference)."""
        self._acknowledgement = (status, body, content_type)

    def refuse_with(
        self, shipment_id: int, status: int, body: bytes | None, content_type: str = "text/plain"
    ) -> None:
        """A refusal of one shipment in a shape of the ESB's own (any status and body)."""
        self._odd_refusals[shipment_id] = (status, body, content_type)

    def refuse(
        self, shipment_id: int, message: str, status: int = 409, action: str | None = None
    ) -> None:
        """Business refusals (e.g. the shipment is already delivered) for one shipment, of
        every action or only of ``action``."""
        self._refusals[(shipment_id, action)] = (status, message)

    def _routes(self, app: web.Application) -> None:
        app.router.add_post(NDR_PATH, self._notify)

    async def _notify(self, request: web.Request) -> web.Response:
        if self._token is not None and request.headers.get("Authorization") != (
            f"Bearer {self._token}"
        ):
            return json_error(401, "unauthorized", "a valid bearer token is required")
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return json_error(400, "invalid_request", "the Idempotency-Key header is required")
        try:
            notification = msgspec.json.decode(await request.read(), type=Notification)
        except msgspec.DecodeError as exc:
            return json_error(400, "invalid_request", str(exc))
        problem = _problem(notification, key)
        if problem is not None:
            return json_error(400, "invalid_request", problem)
        seen = self._by_key.get(key)
        if seen is not None:
            if seen.notification != notification:
                return json_error(
                    422, "idempotency_conflict", "Idempotency-Key reused for a different request"
                )
            return web.json_response(
                {"status": "ok", "referenceId": seen.reference},
                headers={"Idempotent-Replayed": "true"},
            )
        refusal = self._refusals.get(
            (notification.shipment_id, notification.action)
        ) or self._refusals.get((notification.shipment_id, None))
        if refusal is not None:
            return json_error(refusal[0], "refused", refusal[1])
        odd = self._odd_refusals.get(notification.shipment_id)
        if odd is not None:
            return _raw(*odd)
        if self._acknowledgement is not None:
            recorded = RecordedAction(notification, key, "")
            self._by_key[key] = recorded
            self.actions.append(recorded)
            return _raw(*self._acknowledgement)
        recorded = RecordedAction(notification, key, f"ESB-NDR-{next(self._numbers)}")
        self._by_key[key] = recorded
        self.actions.append(recorded)
        return web.json_response({"status": "ok", "referenceId": recorded.reference})


def _raw(status: int, body: bytes | None, content_type: str) -> web.Response:
    if body is None:
        return web.Response(status=status)
    return web.Response(status=status, body=body, content_type=content_type)
