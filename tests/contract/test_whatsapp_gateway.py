"""WhatsAppGateway and TemplateCatalog: Meta's adapter on the fake Graph API, and the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from application.ports.whatsapp import TemplateCatalog, WhatsAppGateway
from domain.errors import (
    PermanentSendError,
    RetryableSendError,
    SendOutcomeUnknown,
    UpstreamRejected,
    UpstreamUnavailable,
)
from domain.messages import InteractiveMessage, QuickReply, TemplateMessage, TextMessage
from domain.settings import SenderConnection
from domain.templates import MetaTemplate
from infrastructure.db.seed_data import SHIPPED_TEMPLATES
from infrastructure.meta.errors import classify
from infrastructure.meta.gateway import (
    CachedTemplateCatalog,
    MetaCloudWhatsApp,
    MetaTemplateCatalog,
)
from infrastructure.meta.sandbox import SandboxTemplateCatalog, SandboxWhatsApp
from infrastructure.meta.transport import Http11Transport
from tests.fakes.meta import FakeGraphApi, closed_port_url, graph_error, send_schema_error

VERSION = "v23.0"
# Generous: a busy machine must not turn an ordinary answer into a timeout.
PATIENT = httpx.Timeout(30.0)
#: For the timeout cases only: gives up on an answer after 0.3 s.
IMPATIENT = httpx.Timeout(2.0, read=0.3)
PHONE_ID = "106540352242922"
WABA_ID = "102290129340398"
TOKEN = "EAAG-secret-token-1234"
CUSTOMER = "919650186697"

SENDER = SenderConnection(
    connection_id=1,
    account_id=5,
    phone_number_id=PHONE_ID,
    waba_id=WABA_ID,
    access_token=TOKEN,
    app_secret="app-secret",
)

TEMPLATE = TemplateMessage(
    name="fdr_customer_unavailable",
    language="en",
    body_parameters=("Aman", "Scitron", "SO-1001", "2", "1 x Shoes", "https://t.example/1"),
    button_payloads=("choose_date:ref-1", "reattempt:ref-1", "cancel:ref-1"),
)
DATES = InteractiveMessage(
    body="Please pick a delivery date",
    buttons=(QuickReply("date-1", "23 June 2026"), QuickReply("date-2", "24 June 2026")),
)
THANKS = TextMessage(body="Thank you, we will reattempt tomorrow.", preview_url=True)


class Sleeps:
    """An injected sleep that returns at once and remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass
class Sent:
    phone_number_id: str
    body: dict[str, Any]


@dataclass
class Harness:
    gateway: WhatsAppGateway
    sent: Callable[[], list[Sent]]  # every message the gateway's Meta has taken


@pytest_asyncio.fixture(loop_scope="session")
async def fake() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi() as fake:
        fake.add_sender(phone_number_id=PHONE_ID, waba_id=WABA_ID, token=TOKEN)
        yield fake


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The template lists' client, on the service's transport."""
    transport = Http11Transport(max_connections=4)
    async with httpx.AsyncClient(timeout=PATIENT, transport=transport) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def transport() -> AsyncIterator[Http11Transport]:
    """The sends' transport, as the service builds it."""
    async with Http11Transport(max_connections=192) as transport:
        yield transport


@pytest_asyncio.fixture(loop_scope="session")
async def impatient_http() -> AsyncIterator[httpx.AsyncClient]:
    """For the timeout cases only: gives up on an answer after 0.3 s."""
    timeout = httpx.Timeout(2.0, read=0.3)
    async with httpx.AsyncClient(
        timeout=timeout, transport=Http11Transport(max_connections=4)
    ) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="session")
async def small_transport() -> AsyncIterator[Http11Transport]:
    """4 connections at most."""
    async with Http11Transport(max_connections=4) as transport:
        yield transport


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def meta_gateway(
    transport: Http11Transport,
    graph_url: str,
    sleeps: Sleeps,
    timeout: httpx.Timeout = PATIENT,
) -> MetaCloudWhatsApp:
    return MetaCloudWhatsApp(
        transport, timeout=timeout, graph_url=graph_url, api_version=VERSION, sleep=sleeps
    )


@pytest.fixture
def meta(fake: FakeGraphApi, transport: Http11Transport, sleeps: Sleeps) -> MetaCloudWhatsApp:
    return meta_gateway(transport, fake.base_url, sleeps)


@pytest.fixture(params=["meta", "sandbox"])
def harness(request: pytest.FixtureRequest) -> Harness:
    """The same contract against every WhatsAppGateway."""
    if request.param.startswith("meta"):
        fake: FakeGraphApi = request.getfixturevalue("fake")
        gateway: MetaCloudWhatsApp = request.getfixturevalue("meta")
        return Harness(gateway, lambda: [Sent(r.phone_number_id, r.body) for r in fake.requests])
    sandbox = SandboxWhatsApp()
    return Harness(sandbox, lambda: [Sent(s.phone_number_id, dict(s.body)) for s in sandbox.sent])


# --- every gateway ---------------------------------------------------------------------------


async def test_a_template_goes_out_with_its_values_payloads_and_our_ref(harness: Harness) -> None:
    receipt = await harness.gateway.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")

    assert receipt.message_id.startswith("wamid.")
    assert receipt.message_status == "accepted"
    [sent] = harness.sent()
    assert sent.phone_number_id == PHONE_ID
    assert send_schema_error(sent.body) is None
    assert sent.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+919650186697",
        "type": "template",
        "biz_opaque_callback_data": "ref-1",
        "template": {
            "name": "fdr_customer_unavailable",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": v} for v in TEMPLATE.body_parameters],
                },
                *(
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": str(i),
                        "parameters": [{"type": "payload", "payload": p}],
                    }
                    for i, p in enumerate(TEMPLATE.button_payloads)
                ),
            ],
        },
    }


async def test_a_template_without_values_has_no_components(harness: Harness) -> None:
    await harness.gateway.send(
        SENDER, CUSTOMER, TemplateMessage(name="hello_world", language="en_US"), client_ref="r"
    )
    [sent] = harness.sent()
    assert sent.body["template"] == {"name": "hello_world", "language": {"code": "en_US"}}
    assert send_schema_error(sent.body) is None


async def test_reply_buttons_go_out_as_an_interactive_message_in_reply(harness: Harness) -> None:
    receipt = await harness.gateway.send(
        SENDER, "+" + CUSTOMER, DATES, client_ref="ref-2", context_message_id="wamid.ROOT"
    )

    assert receipt.message_status is None  # Meta reports it for templates only
    [sent] = harness.sent()
    assert send_schema_error(sent.body) is None
    assert sent.body["to"] == "+919650186697"
    assert sent.body["context"] == {"message_id": "wamid.ROOT"}
    assert sent.body["biz_opaque_callback_data"] == "ref-2"
    assert sent.body["interactive"] == {
        "type": "button",
        "body": {"text": "Please pick a delivery date"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "date-1", "title": "23 June 2026"}},
                {"type": "reply", "reply": {"id": "date-2", "title": "24 June 2026"}},
            ]
        },
    }


async def test_text_keeps_preview_url_inside_text(harness: Harness) -> None:
    await harness.gateway.send(SENDER, CUSTOMER, THANKS, client_ref="ref-3")
    [sent] = harness.sent()
    assert send_schema_error(sent.body) is None
    assert "preview_url" not in sent.body
    assert sent.body["text"] == {"body": THANKS.body, "preview_url": True}


async def test_each_send_gets_its_own_message_id(harness: Harness) -> None:
    first = await harness.gateway.send(SENDER, CUSTOMER, THANKS, client_ref="a")
    second = await harness.gateway.send(SENDER, CUSTOMER, THANKS, client_ref="b")
    assert first.message_id != second.message_id
    assert [s.body["biz_opaque_callback_data"] for s in harness.sent()] == ["a", "b"]


@pytest.mark.parametrize(
    "content",
    [
        InteractiveMessage(
            body="pick", buttons=tuple(QuickReply(f"b{i}", f"B{i}") for i in range(4))
        ),
        InteractiveMessage(body="pick", buttons=(QuickReply("b", "x" * 21),)),
    ],
    ids=["4th-button", "21-char-title"],
)
async def test_what_meta_refuses_is_a_permanent_error_and_not_sent(
    harness: Harness, content: InteractiveMessage
) -> None:
    with pytest.raises(PermanentSendError) as caught:
        await harness.gateway.send(SENDER, CUSTOMER, content, client_ref="r")
    assert caught.value.code == 100
    assert harness.sent() == []


# --- Meta: retries, give-ups and unknown outcomes --------------------------------------------


async def test_throughput_limit_is_retried_after_a_backoff_and_sends_once(
    meta: MetaCloudWhatsApp, fake: FakeGraphApi, sleeps: Sleeps
) -> None:
    fake.fail_next(130429)
    receipt = await meta.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")
    assert len(fake.requests) == 1
    assert receipt.message_id == fake.requests[0].message_id
    assert fake.send_attempts == 2
    assert len(sleeps.calls) == 1
    assert sleeps.calls[0] > 0


@pytest.mark.parametrize(("code", "http_status"), [(2, 503), (131016, 500), (131000, 500)])
async def test_meta_downtime_is_retried(
    meta: MetaCloudWhatsApp, fake: FakeGraphApi, sleeps: Sleeps, code: int, http_status: int
) -> None:
    fake.fail_next(code, http_status=http_status)
    await meta.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")
    assert len(fake.requests) == 1
    assert len(sleeps.calls) == 1


@pytest.mark.parametrize(
    ("code", "http_status"), [(131026, 400), (132000, 400), (132001, 404), (131047, 400)]
)
async def test_a_final_refusal_is_permanent_and_never_retried(
    meta: MetaCloudWhatsApp, fake: FakeGraphApi, sleeps: Sleeps, code: int, http_status: int
) -> None:
    fake.fail_next(code, http_status=http_status)
    with pytest.raises(PermanentSendError) as caught:
        await meta.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")
    assert caught.value.code == code
    assert caught.value.title.startswith(f"(#{code})")
    assert fake.send_attempts == 1
    assert fake.requests == []
    assert sleeps.calls == []


async def test_a_limit_that_never_lifts_gives_up_after_the_attempts(
    meta: MetaCloudWhatsApp, fake: FakeGraphApi, sleeps: Sleeps
) -> None:
    fake.fail_next(130429, times=10)
    with pytest.raises(RetryableSendError) as caught:
        await meta.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")
    assert caught.value.code == 130429
    assert fake.send_attempts == 4
    assert len(sleeps.calls) == 3
    assert fake.requests == []


async def test_pair_rate_limit_waits_4_to_the_x_within_the_time_budget(
    meta: MetaCloudWhatsApp, fake: FakeGraphApi, sleeps: Sleeps
) -> None:
    fake.fail_next(131056, times=10)
    with pytest.raises(RetryableSendError) as caught:
        await meta.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")
    # 1 s, 4 s, then 16 s would pass the 10 s budget: the caller gets the wait it must keep.
    assert sleeps.calls == [1.0, 4.0]
    assert caught.value.retry_after == 16.0
    assert fake.send_attempts == 3


async def test_a_timeout_after_sending_is_an_unknown_outcome_and_not_resent(
    small_transport: Http11Transport, fake: FakeGraphApi, sleeps: Sleeps
) -> None:
    meta = meta_gateway(small_transport, fake.base_url, sleeps, IMPATIENT)
    fake.delay_next(5.0)  # the client's read timeout is 0.3 s
    with pytest.raises(SendOutcomeUnknown):
        await meta.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")
    assert fake.send_attempts == 1
    assert len(fake.requests) == 1  # Meta has it: only its status webhook can tell
    assert sleeps.calls == []


async def test_more_sends_at_once_than_connections_all_go_out_after_a_timeout(
    small_transport: Http11Transport, fake: FakeGraphApi, sleeps: Sleeps
) -> None:
    meta = meta_gateway(small_transport, fake.base_url, sleeps, IMPATIENT)
    fake.delay_next(5.0)
    with pytest.raises(SendOutcomeUnknown):
        await meta.send(SENDER, CUSTOMER, TEMPLATE, client_ref="lost")
    receipts = await asyncio.gather(
        *(meta.send(SENDER, CUSTOMER, THANKS, client_ref=f"ref-{i}") for i in range(12))
    )
    assert len({r.message_id for r in receipts}) == 12
    assert sorted(r.body["biz_opaque_callback_data"] for r in fake.requests[1:]) == sorted(
        f"ref-{i}" for i in range(12)
    )


async def test_a_dropped_connection_is_an_unknown_outcome(
    meta: MetaCloudWhatsApp, fake: FakeGraphApi, sleeps: Sleeps
) -> None:
    fake.drop_next()
    with pytest.raises(SendOutcomeUnknown):
        await meta.send(SENDER, CUSTOMER, DATES, client_ref="ref-1")
    assert fake.send_attempts == 1
    assert sleeps.calls == []


async def test_a_refused_connection_is_retried_then_retryable(
    transport: Http11Transport, sleeps: Sleeps
) -> None:
    # Nothing left the process, so retrying cannot duplicate; after the budget the caller
    # gets RetryableSendError (the port's own vocabulary) rather than UpstreamUnavailable.
    gateway = meta_gateway(transport, closed_port_url(), sleeps)
    with pytest.raises(RetryableSendError) as caught:
        await gateway.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")
    assert caught.value.code is None
    assert len(sleeps.calls) == 3


async def test_a_bad_token_is_permanent_and_never_quoted(
    meta: MetaCloudWhatsApp, fake: FakeGraphApi
) -> None:
    fake.fail_next(190, http_status=401, message=f"Malformed access token {TOKEN} for +{CUSTOMER}")
    with pytest.raises(PermanentSendError) as caught:
        await meta.send(SENDER, CUSTOMER, TEMPLATE, client_ref="ref-1")
    assert caught.value.code == 190
    assert TOKEN not in str(caught.value)
    assert CUSTOMER not in str(caught.value)
    assert CUSTOMER[-4:] in str(caught.value)


async def test_a_wrong_token_is_refused_by_meta(
    fake: FakeGraphApi, transport: Http11Transport, sleeps: Sleeps
) -> None:
    gateway = meta_gateway(transport, fake.base_url, sleeps)
    stranger = SenderConnection(
        connection_id=2,
        account_id=5,
        phone_number_id=PHONE_ID,
        waba_id=WABA_ID,
        access_token="not-the-token",
        app_secret="s",
    )
    with pytest.raises(PermanentSendError) as caught:
        await gateway.send(stranger, CUSTOMER, THANKS, client_ref="ref-1")
    assert caught.value.code == 190


async def test_a_token_with_a_control_byte_is_permanent_and_nothing_leaves(
    fake: FakeGraphApi, transport: Http11Transport, sleeps: Sleeps
) -> None:
    # The transport refuses the header before a byte is written: Meta has nothing, so the
    # send is not an unknown outcome to look for later, and asking again changes nothing.
    gateway = meta_gateway(transport, fake.base_url, sleeps)
    broken = dataclasses.replace(SENDER, access_token=f"{TOKEN}\r\nX-Injected: yes")
    before = fake.send_attempts
    with pytest.raises(PermanentSendError, match="not sent") as caught:
        await gateway.send(broken, CUSTOMER, THANKS, client_ref="ref-1")
    assert TOKEN not in str(caught.value)
    assert fake.send_attempts == before
    assert sleeps.calls == []


async def test_a_malformed_status_line_is_an_unknown_outcome_as_a_garbled_answer_is(
    sleeps: Sleeps,
) -> None:
    # The request left: whatever came back, Meta may have the message (never sent again).
    asked: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            head = await reader.readuntil(b"\r\n\r\n")
            asked.append(head)
            body = b'{"error":{"code":100,"message":"no"}}'
            writer.write(b"HTTP/1.1 040 \x1b[2J\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            await reader.read()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server, Http11Transport(max_connections=1) as own:
        gateway = meta_gateway(own, url, sleeps)
        with pytest.raises(SendOutcomeUnknown, match="RemoteProtocolError"):
            await gateway.send(SENDER, CUSTOMER, THANKS, client_ref="ref-1")
    assert len(asked) == 1
    assert sleeps.calls == []


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        (502, b"<html>Bad gateway</html>", RetryableSendError),
        (503, b"", RetryableSendError),
        (429, b"", RetryableSendError),
        (400, b"not json", PermanentSendError),
        (500, graph_error(3), PermanentSendError),  # code, not HTTP status, decides
        (400, graph_error(4), RetryableSendError),
        (400, graph_error(80007), RetryableSendError),
    ],
)
def test_answers_are_classified_by_code_then_by_status(
    status: int, content: bytes | dict[str, Any], expected: type[Exception]
) -> None:
    raw = content if isinstance(content, bytes) else httpx.Response(200, json=content).content
    assert type(classify(status, raw)) is expected


def test_the_title_falls_back_to_the_details() -> None:
    raw = b'{"error":{"code":131026,"message":"","error_data":{"details":"Not on WhatsApp"}}}'
    error = classify(400, raw)
    assert isinstance(error, PermanentSendError)
    assert (error.code, error.title) == (131026, "Not on WhatsApp")


# --- template catalogues ---------------------------------------------------------------------


def catalog(
    fake: FakeGraphApi, http: httpx.AsyncClient, page_size: int = 100
) -> MetaTemplateCatalog:
    return MetaTemplateCatalog(
        http, graph_url=fake.base_url, api_version=VERSION, page_size=page_size
    )


def shipped(templates: list[MetaTemplate]) -> set[tuple[str, str, str, int, tuple[str, ...]]]:
    return {
        (t.name, t.language, t.status, t.body_parameter_count, t.quick_replies) for t in templates
    }


@pytest.fixture(params=["meta", "sandbox"])
def any_catalog(request: pytest.FixtureRequest) -> TemplateCatalog:
    """The shipped defaults, as Meta would list them after approval, and as the sandbox does."""
    if request.param == "sandbox":
        return SandboxTemplateCatalog()
    fake: FakeGraphApi = request.getfixturevalue("fake")
    for row in SHIPPED_TEMPLATES:
        fake.add_template(
            WABA_ID,
            row["template_name"],
            row["language"],
            "APPROVED",
            row["template_body"],
            tuple(b["title"] for b in row["buttons"]),
        )
    return catalog(fake, request.getfixturevalue("http"), page_size=4)


async def test_every_catalogue_lists_the_shipped_defaults_as_approved(
    any_catalog: TemplateCatalog,
) -> None:
    listed = await any_catalog.templates(SENDER)
    assert shipped(listed) == {
        (
            row["template_name"],
            row["language"],
            "APPROVED",
            len(row["variables"]),
            tuple(b["title"] for b in row["buttons"]),
        )
        for row in SHIPPED_TEMPLATES
    }
    assert all(t.body and t.id for t in listed)


async def test_the_catalog_reads_every_page(fake: FakeGraphApi, http: httpx.AsyncClient) -> None:
    ids = [
        fake.add_template(WABA_ID, f"t{i}", "en", "APPROVED", "Hi {{1}} and {{2}}", ("Yes",))
        for i in range(5)
    ]
    fake.add_template(WABA_ID, "rejected_one", "en_US", "REJECTED", "Plain body")

    listed = await catalog(fake, http, page_size=2).templates(SENDER)

    assert fake.list_calls[WABA_ID] == 3
    assert [t.id for t in listed[:5]] == ids
    assert listed[0] == MetaTemplate(
        id=ids[0],
        name="t0",
        language="en",
        status="APPROVED",
        category="UTILITY",
        body="Hi {{1}} and {{2}}",
        body_parameter_count=2,
        quick_replies=("Yes",),
    )
    assert (listed[5].name, listed[5].status, listed[5].body_parameter_count) == (
        "rejected_one",
        "REJECTED",
        0,
    )


async def test_an_empty_account_lists_nothing(fake: FakeGraphApi, http: httpx.AsyncClient) -> None:
    assert await catalog(fake, http).templates(SENDER) == []
    assert fake.list_calls[WABA_ID] == 1


async def test_a_refused_token_is_rejected_and_downtime_is_unavailable(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    fake.fail_next(190, http_status=401, message=f"Malformed access token {TOKEN}")
    with pytest.raises(UpstreamRejected) as caught:
        await catalog(fake, http).templates(SENDER)
    assert TOKEN not in str(caught.value)
    fake.fail_next(2, http_status=503)
    with pytest.raises(UpstreamUnavailable):
        await catalog(fake, http).templates(SENDER)
    fake.fail_next(80007)
    with pytest.raises(UpstreamUnavailable):
        await catalog(fake, http).templates(SENDER)


async def test_an_unreachable_or_silent_graph_api_is_unavailable(
    fake: FakeGraphApi, impatient_http: httpx.AsyncClient
) -> None:
    refused = MetaTemplateCatalog(impatient_http, graph_url=closed_port_url(), api_version=VERSION)
    with pytest.raises(UpstreamUnavailable):
        await refused.templates(SENDER)
    fake.delay_next(5.0)  # the client's read timeout is 0.3 s
    with pytest.raises(UpstreamUnavailable):
        await catalog(fake, impatient_http).templates(SENDER)


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_cache_lists_once_per_ttl_and_again_after_invalidate(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    fake.add_template(WABA_ID, "t", "en", "APPROVED", "Hi {{1}}")
    clock = Ticks()
    cached = CachedTemplateCatalog(catalog(fake, http), ttl_seconds=600, monotonic=clock)

    first = await cached.templates(SENDER)
    clock.now += 599
    second = await cached.templates(SENDER)
    assert first == second
    assert fake.list_calls[WABA_ID] == 1

    cached.invalidate(WABA_ID)
    await cached.templates(SENDER)
    assert fake.list_calls[WABA_ID] == 2

    clock.now += 600
    await cached.templates(SENDER)
    assert fake.list_calls[WABA_ID] == 3


async def test_concurrent_readers_share_one_list_call_and_failures_are_not_kept(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    fake.add_template(WABA_ID, "t", "en", "APPROVED", "Hi {{1}}")
    cached = CachedTemplateCatalog(catalog(fake, http))
    fake.fail_next(2, http_status=503)
    with pytest.raises(UpstreamUnavailable):
        await cached.templates(SENDER)
    fake.delay_next(0.05)
    lists = await asyncio.gather(*(cached.templates(SENDER) for _ in range(5)))
    assert [t.name for t in lists[0]] == ["t"]
    assert all(found == lists[0] for found in lists)
    assert fake.list_calls[WABA_ID] == 2


async def test_the_cache_keeps_wabas_apart(fake: FakeGraphApi, http: httpx.AsyncClient) -> None:
    fake.add_sender(phone_number_id="2", waba_id="other-waba", token=TOKEN)
    fake.add_template("other-waba", "other", "en", "APPROVED", "Hello")
    cached = CachedTemplateCatalog(catalog(fake, http))
    other = SenderConnection(
        connection_id=3,
        account_id=6,
        phone_number_id="2",
        waba_id="other-waba",
        access_token=TOKEN,
        app_secret="s",
    )
    assert await cached.templates(SENDER) == []
    assert [t.name for t in await cached.templates(other)] == ["other"]
    cached.invalidate("other-waba")
    assert await cached.templates(SENDER) == []
    assert fake.list_calls == {WABA_ID: 1, "other-waba": 1}
