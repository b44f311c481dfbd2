"""NDR actions: the same cases on the in-memory twin and on HTTP + the fake ESB."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
import pytest_asyncio

from application.ports.collaborators import NdrActions
from composition.container import build_container
from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.ndr import NdrAction, NdrActionKind
from infrastructure.config import Config
from infrastructure.esb.ndr import HttpNdrActions, idempotency_key
from infrastructure.local.collaborators import InMemoryNdrActions
from tests.conftest import new_id
from tests.fakes.esb import NDR_PATH, FakeEsb
from tests.support.factories import T0

NEW_DATE = date(2026, 11, 23)
NEW_PHONE = "917891971009"
NEW_ADDRESS = "Flat 4B, Lake View Apartments, Sector 21, Gurugram 122016"


class _Needed:
    """Whatever a valid action of the kind needs (a date to reschedule, a phone to update)."""


NEEDED = _Needed()


def action(
    kind: NdrActionKind,
    *,
    delivery_date: date | _Needed | None = NEEDED,
    phone: str | _Needed | None = NEEDED,
    disputed_fake_attempt: bool = False,
) -> NdrAction:
    address = NEW_ADDRESS if kind is NdrActionKind.UPDATE_ADDRESS else None
    if isinstance(delivery_date, _Needed):
        delivery_date = NEW_DATE if kind is NdrActionKind.RESCHEDULE else None
    if isinstance(phone, _Needed):
        phone = NEW_PHONE if kind is NdrActionKind.UPDATE_PHONE else None
    return NdrAction(
        conversation_id=new_id(),
        account_id=379,
        shipment_id=new_id(),
        external_shipment_id="4980116095129-90758",
        kind=kind,
        reply_message_id=f"wamid.reply.{new_id()}",
        delivery_date=delivery_date,
        phone=phone,
        address=address,
        disputed_fake_attempt=disputed_fake_attempt,
        created_at=T0,
        updated_at=T0,
    )


@dataclass(frozen=True)
class Sent:
    """One action as the ESB saw it, whichever adapter carried it."""

    action: str
    account_id: int
    shipment_id: int
    external_shipment_id: str
    delivery_date: str | None
    phone: str | None
    address: str | None
    disputed_fake_attempt: bool
    key: str

    @classmethod
    def expected(cls, a: NdrAction) -> Sent:
        return cls(
            action=a.kind.value,
            account_id=a.account_id,
            shipment_id=a.shipment_id,
            external_shipment_id=a.external_shipment_id,
            delivery_date=a.delivery_date.isoformat() if a.delivery_date else None,
            phone=a.phone,
            address=a.address,
            disputed_fake_attempt=a.disputed_fake_attempt,
            key=idempotency_key(a),
        )


@dataclass
class Esb:
    actions: NdrActions
    sent: Callable[[], list[Sent]]


class Sleeps:
    """Backoff waits, recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest_asyncio.fixture(loop_scope="session")
async def fake_esb() -> AsyncIterator[FakeEsb]:
    fake = FakeEsb()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def http_actions(
    fake_esb: FakeEsb, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> HttpNdrActions:
    # Generous: a busy machine must not turn an ordinary answer into a timeout.
    return HttpNdrActions(http_client, fake_esb.url, timeout=30.0, attempts=3, sleep=sleeps)


def _sent_to(fake: FakeEsb) -> Callable[[], list[Sent]]:
    def sent() -> list[Sent]:
        return [
            Sent(
                action=r.notification.action,
                account_id=r.notification.account_id,
                shipment_id=r.notification.shipment_id,
                external_shipment_id=r.notification.external_shipment_id,
                delivery_date=r.notification.delivery_date,
                phone=r.notification.phone,
                address=r.notification.address,
                disputed_fake_attempt=r.notification.disputed_fake_attempt,
                key=r.idempotency_key,
            )
            for r in fake.actions
        ]

    return sent


@pytest.fixture(params=["memory", "http"])
def esb(request: pytest.FixtureRequest) -> Esb:
    if request.param == "memory":
        memory = InMemoryNdrActions()
        return Esb(memory, lambda: [Sent.expected(a) for a in memory.performed])
    return Esb(
        request.getfixturevalue("http_actions"), _sent_to(request.getfixturevalue("fake_esb"))
    )


@pytest.fixture(params=["memory", "http"])
def esb_without_references(request: pytest.FixtureRequest) -> Esb:
    """An ESB that acknowledges an action with a bare ``200 {"status": "ok"}``."""
    if request.param == "memory":
        memory = InMemoryNdrActions(references=False)
        return Esb(memory, lambda: [Sent.expected(a) for a in memory.performed])
    fake: FakeEsb = request.getfixturevalue("fake_esb")
    fake.acknowledge_with(200, b'{"status": "ok"}')
    return Esb(request.getfixturevalue("http_actions"), _sent_to(fake))


# --- every adapter -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(NdrActionKind))
async def test_each_action_is_sent_once_with_its_fields(esb: Esb, kind: NdrActionKind) -> None:
    asked = action(kind)

    reference = await esb.actions.perform(asked)

    assert reference
    assert esb.sent() == [Sent.expected(asked)]


async def test_reschedule_carries_the_chosen_date(esb: Esb) -> None:
    await esb.actions.perform(action(NdrActionKind.RESCHEDULE, delivery_date=date(2026, 12, 1)))
    [sent] = esb.sent()
    assert (sent.action, sent.delivery_date) == ("reschedule", "2026-12-01")


async def test_a_disputed_attempt_is_a_flagged_reattempt(esb: Esb) -> None:
    await esb.actions.perform(action(NdrActionKind.REATTEMPT, disputed_fake_attempt=True))
    [sent] = esb.sent()
    assert (sent.action, sent.disputed_fake_attempt) == ("reattempt", True)


async def test_the_same_action_twice_is_done_once(esb: Esb) -> None:
    asked = action(NdrActionKind.CANCEL)
    first = await esb.actions.perform(asked)
    again = await esb.actions.perform(asked)
    assert again == first
    assert len(esb.sent()) == 1


async def test_actions_of_different_conversations_are_separate(esb: Esb) -> None:
    one, two = action(NdrActionKind.CANCEL), action(NdrActionKind.CANCEL)
    assert await esb.actions.perform(one) != await esb.actions.perform(two)
    assert [s.key for s in esb.sent()] == [idempotency_key(one), idempotency_key(two)]


async def test_an_acknowledgement_without_a_reference_is_done_once(
    esb_without_references: Esb,
) -> None:
    asked = action(NdrActionKind.CANCEL)

    assert await esb_without_references.actions.perform(asked) == ""
    assert await esb_without_references.actions.perform(asked) == ""

    assert esb_without_references.sent() == [Sent.expected(asked)]


@pytest.mark.parametrize(
    "asked",
    [
        action(NdrActionKind.RESCHEDULE, delivery_date=None),
        action(NdrActionKind.REATTEMPT, delivery_date=NEW_DATE),
        action(NdrActionKind.UPDATE_PHONE, phone="12-34"),
        action(NdrActionKind.CANCEL, disputed_fake_attempt=True),
    ],
    ids=["reschedule-without-date", "date-on-reattempt", "bad-phone", "disputed-cancel"],
)
async def test_an_invalid_action_is_rejected_and_nothing_done(esb: Esb, asked: NdrAction) -> None:
    with pytest.raises(UpstreamRejected):
        await esb.actions.perform(asked)
    assert esb.sent() == []


# --- HTTP only: the wire, and what can go wrong on it --------------------------------------


async def test_the_wire_format(fake_esb: FakeEsb, http_actions: HttpNdrActions) -> None:
    asked = action(NdrActionKind.RESCHEDULE)

    reference = await http_actions.perform(asked)

    [request] = fake_esb.requests
    key = f"fdr-whatsapp:ndr:{asked.conversation_id}:reschedule"
    assert (request.method, request.path) == ("POST", NDR_PATH)
    assert request.headers["Idempotency-Key"] == key
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "accountId": 379,
        "shipmentId": asked.shipment_id,
        "externalShipmentId": "4980116095129-90758",
        "action": "reschedule",
        "deliveryDate": "2026-11-23",
        "phone": None,
        "address": None,
        "disputedFakeAttempt": False,
        "source": "whatsapp",
        "requestId": key,
    }
    assert reference == fake_esb.actions[0].reference


async def test_a_server_error_then_success_records_one_action(
    fake_esb: FakeEsb, http_actions: HttpNdrActions, sleeps: Sleeps
) -> None:
    fake_esb.fail_next(500)

    reference = await http_actions.perform(action(NdrActionKind.REATTEMPT))

    assert [r.reference for r in fake_esb.actions] == [reference]
    assert len(fake_esb.requests) == 2
    assert len(sleeps.seconds) == 1


async def test_a_timeout_is_retried_with_the_same_key_and_done_once(
    fake_esb: FakeEsb, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    # The client gives up after 0.3 s; spare attempts cover an ordinary answer a busy machine
    # makes late.
    impatient = HttpNdrActions(http_client, fake_esb.url, timeout=0.3, attempts=5, sleep=sleeps)
    fake_esb.delay_next(5.0)  # the ESB acts, but answers after the client gave up

    reference = await impatient.perform(action(NdrActionKind.CANCEL))

    keys = {r.headers["Idempotency-Key"] for r in fake_esb.requests}
    assert len(fake_esb.requests) >= 2
    assert len(keys) == 1
    assert [r.reference for r in fake_esb.actions] == [reference]


async def test_a_dropped_connection_is_retried_and_done_once(
    fake_esb: FakeEsb, http_actions: HttpNdrActions
) -> None:
    fake_esb.drop_next()
    reference = await http_actions.perform(action(NdrActionKind.UPDATE_PHONE))
    assert len(fake_esb.requests) == 2
    assert [r.reference for r in fake_esb.actions] == [reference]


async def test_a_bad_request_is_rejected_with_the_esb_message_and_not_retried(
    fake_esb: FakeEsb, http_actions: HttpNdrActions, sleeps: Sleeps
) -> None:
    with pytest.raises(UpstreamRejected, match="deliveryDate is required"):
        await http_actions.perform(action(NdrActionKind.RESCHEDULE, delivery_date=None))
    assert len(fake_esb.requests) == 1
    assert sleeps.seconds == []


async def test_a_business_refusal_is_rejected_without_the_full_phone_number(
    fake_esb: FakeEsb, http_actions: HttpNdrActions
) -> None:
    asked = action(NdrActionKind.UPDATE_PHONE)
    fake_esb.refuse(asked.shipment_id, f"shipment already delivered; phone {NEW_PHONE} unchanged")

    with pytest.raises(UpstreamRejected, match="already delivered") as raised:
        await http_actions.perform(asked)
    assert NEW_PHONE not in str(raised.value)
    assert NEW_PHONE[-4:] in str(raised.value)


async def test_always_unavailable_gives_up_after_the_bound(
    fake_esb: FakeEsb, http_actions: HttpNdrActions, sleeps: Sleeps
) -> None:
    fake_esb.fail_next(503, times=10)

    with pytest.raises(UpstreamUnavailable, match="after 3 attempts"):
        await http_actions.perform(action(NdrActionKind.CANCEL))

    assert len(fake_esb.requests) == 3
    assert fake_esb.actions == []
    assert len(sleeps.seconds) == 2
    assert all(0 <= s <= 4.0 for s in sleeps.seconds)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reference"),
    [
        (200, b'{"status": "ok"}', "application/json", ""),
        (200, b'{"status": "ok", "referenceId": "NDR-1234"}', "application/json", "NDR-1234"),
        (201, b'{"referenceId": 42}', "application/json", "42"),
        (202, None, "application/json", ""),
        (204, None, "application/json", ""),
        (200, b"OK", "text/plain", ""),
        (200, b"<html>accepted</html>", "text/html", ""),
        # A 2xx is success whatever it says (docs/esb.md): the ESB refuses with a 4xx.
        (200, b'{"status": "error", "referenceId": null}', "application/json", ""),
    ],
    ids=["ok", "ok-reference", "201-number", "202-empty", "204", "text", "html", "2xx-error"],
)
async def test_any_success_status_is_done_and_keeps_a_reference_when_given(
    fake_esb: FakeEsb,
    http_actions: HttpNdrActions,
    sleeps: Sleeps,
    status: int,
    body: bytes | None,
    content_type: str,
    reference: str,
) -> None:
    fake_esb.acknowledge_with(status, body, content_type)

    assert await http_actions.perform(action(NdrActionKind.CANCEL)) == reference

    assert len(fake_esb.requests) == 1
    assert len(fake_esb.actions) == 1
    assert sleeps.seconds == []


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reason"),
    [
        (
            409,
            b'{"status": "error", "message": "shipment already delivered"}',
            "application/json",
            "HTTP 409 shipment already delivered",
        ),
        (
            422,
            b'{"message": "cannot reschedule  past\\nthe SLA"}',
            "application/json",
            "HTTP 422 cannot reschedule past the SLA",
        ),
        (
            400,
            b"deliveryDate must be YYYY-MM-DD",
            "text/plain",
            "HTTP 400 deliveryDate must be YYYY-MM-DD",
        ),
        (404, b"x" * 500, "text/plain", "HTTP 404 " + "x" * 200),
    ],
    ids=["json", "json-spaces", "text", "long"],
)
async def test_a_client_error_with_a_reason_is_refused_once_with_it(
    fake_esb: FakeEsb,
    http_actions: HttpNdrActions,
    sleeps: Sleeps,
    status: int,
    body: bytes,
    content_type: str,
    reason: str,
) -> None:
    asked = action(NdrActionKind.REATTEMPT)
    fake_esb.refuse_with(asked.shipment_id, status, body, content_type)

    with pytest.raises(UpstreamRejected) as refused:
        await http_actions.perform(asked)

    assert str(refused.value) == f"ESB refused reattempt of shipment {asked.shipment_id}: {reason}"
    assert len(fake_esb.requests) == 1
    assert sleeps.seconds == []


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (404, None, "text/plain"),
        (400, b"<html><body>Bad gateway config</body></html>", "text/html"),
        (410, b'{"status": "error"}', "application/json"),
        (302, None, "text/plain"),
    ],
    ids=["404-empty", "400-html", "410-no-message", "redirect"],
)
async def test_an_answer_without_a_reason_is_unavailable_not_a_refusal(
    fake_esb: FakeEsb,
    http_actions: HttpNdrActions,
    status: int,
    body: bytes | None,
    content_type: str,
) -> None:
    asked = action(NdrActionKind.CANCEL)
    fake_esb.refuse_with(asked.shipment_id, status, body, content_type)

    with pytest.raises(UpstreamUnavailable, match=f"HTTP {status} and no reason"):
        await http_actions.perform(asked)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_unavailable_not_the_shoppers_refusal(
    fake_esb: FakeEsb, http_actions: HttpNdrActions, status: int
) -> None:
    asked = action(NdrActionKind.CANCEL)
    fake_esb.refuse_with(asked.shipment_id, status, b'{"message": "bad token"}', "application/json")

    with pytest.raises(UpstreamUnavailable, match="WA_ESB_TOKEN"):
        await http_actions.perform(asked)


@pytest.mark.parametrize("status", [408, 429, 500, 502])
async def test_timeouts_throttling_and_server_errors_are_asked_again(
    fake_esb: FakeEsb, http_actions: HttpNdrActions, sleeps: Sleeps, status: int
) -> None:
    fake_esb.fail_next(status)

    reference = await http_actions.perform(action(NdrActionKind.CANCEL))

    assert [r.reference for r in fake_esb.actions] == [reference]
    assert len(fake_esb.requests) == 2
    assert len(sleeps.seconds) == 1


async def test_the_configured_token_is_sent_as_a_bearer_header() -> None:
    token = "esb-token-0123456789"
    fake = FakeEsb(token=token)
    await fake.start()
    container = build_container(Config(esb_url=fake.url, esb_token=token))
    try:
        actions = await container.get(NdrActions)
        assert await actions.perform(action(NdrActionKind.CANCEL))
    finally:
        await container.close()
        await fake.stop()
    [request] = fake.requests
    assert request.headers["Authorization"] == f"Bearer {token}"


async def test_without_a_token_no_authorization_header_is_sent(fake_esb: FakeEsb) -> None:
    container = build_container(Config(esb_url=fake_esb.url))
    try:
        actions = await container.get(NdrActions)
        await actions.perform(action(NdrActionKind.CANCEL))
    finally:
        await container.close()
    [request] = fake_esb.requests
    assert "Authorization" not in request.headers
