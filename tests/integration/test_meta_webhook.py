"""Meta's webhook over HTTP: handshake, signatures, stored before the 200, processed once."""

from __future__ import annotations

import asyncio
import json

import pytest
import structlog

from domain.settings import SenderConnection
from domain.status import MessageStatus
from infrastructure.config import Config
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import FIXTURES, new_id
from tests.support.app import AppClient, http_client
from tests.support.factories import OutgoingMessageFactory
from tests.support.meta_webhooks import signed, status, statuses_body
from tests.support.services import free_port
from tests.support.stack import APP_SECRET, Stack, stack_fixture

WEBHOOKS = FIXTURES / "meta-webhooks"


stack = stack_fixture(worker=False)


async def drain(client: AppClient) -> None:
    await client.app.state.webhook_pump.drain()


async def inbox_count(stack: Stack) -> int:
    return len(await stack.rows("wa_webhook_inbox"))


async def test_the_handshake_echoes_the_challenge(client: AppClient) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": "verify-me",
        "hub.challenge": "1158201444",
    }
    ok = await client.get("/webhooks/whatsapp", params=query)
    own = await client.get("/webhooks/whatsapp/482", params=query)
    wrong = await client.get("/webhooks/whatsapp", params={**query, "hub.verify_token": "nope"})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert ok.headers["content-type"].startswith("text/plain")
    assert (own.status_code, own.text) == (200, "1158201444")
    assert wrong.status_code == 403


@pytest.mark.parametrize(
    ("name", "signature"),
    [
        ("text-message.json", "db8b3483e4dddf5f7baa82d3f1351cbb6832e75a192aaaa8d5e1c781dccc65f9"),
        (
            "status-delivered.json",
            "a9ef640e5b1bab14cbc08ad936ac30974139f688c6480501402adb1e8f5fd99c",
        ),
    ],
)
async def test_metas_test_vectors_are_accepted_as_exact_bytes(
    client: AppClient, stack: Stack, name: str, signature: str
) -> None:
    body = (WEBHOOKS / name).read_bytes()
    before = await inbox_count(stack)
    response = await client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": f"sha256={signature}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    stored = await stack.rows("wa_webhook_inbox")
    assert len(stored) == before + 1
    assert stored[-1]["body"] == body


async def test_every_fixture_is_accepted_and_processed(client: AppClient, stack: Stack) -> None:
    for path in sorted(WEBHOOKS.glob("*.json")):
        body = path.read_bytes()
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
        )
        assert response.status_code == 200, path.name
    await drain(client)
    assert [r for r in await stack.rows("wa_webhook_inbox") if r["processed_at"] is None] == []
    delivered = await stack.rows(
        "wa_dlr_messages",
        message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
    )
    # The sent, delivered and read fixtures are ticks of one message: each kept once.
    assert sorted(d["status"] for d in delivered) == ["delivered", "read", "sent"]
    replies = await stack.rows(
        "wa_customer_reply_messages",
        reply_message_id="wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQThBREYwNzc2RDc2QjA1QTIwMgA=",
    )
    assert [(r["customer_reply_type"], r["button_reply_id"]) for r in replies] == [
        ("interactive", "change-button")
    ]


async def test_non_ascii_bodies_verify_on_their_bytes(client: AppClient, stack: Stack) -> None:
    escaped = b'{"text":{"body":"caf\\u00e9"}}'
    header = "sha256=d36eb0f4e8ed7a1458654758c875f8906c154262156b732bbdf52856281cd3fb"
    literal = '{"text":{"body":"café"}}'.encode()
    ok = await client.post(
        "/webhooks/whatsapp", content=escaped, headers={"X-Hub-Signature-256": header}
    )
    re_encoded = await client.post(
        "/webhooks/whatsapp", content=literal, headers={"X-Hub-Signature-256": header}
    )
    assert ok.status_code == 200
    assert re_encoded.status_code == 401
    # Signed but not a webhook: kept, answered 200 (never retried by Meta), set aside.
    await drain(client)
    [row] = [r for r in await stack.rows("wa_webhook_inbox") if r["body"] == escaped][-1:]
    assert row["error"].startswith("malformed")


async def test_a_changed_byte_or_no_signature_is_refused_and_nothing_stored(
    client: AppClient, stack: Stack
) -> None:
    body = (WEBHOOKS / "status-read.json").read_bytes()
    headers = signed(body, APP_SECRET)
    before = await inbox_count(stack)
    tampered = await client.post(
        "/webhooks/whatsapp", content=body.replace(b"read", b"reaf"), headers=headers
    )
    unsigned = await client.post("/webhooks/whatsapp", content=body)
    wrong_secret = await client.post(
        "/webhooks/whatsapp", content=body, headers=signed(body, "other")
    )
    unknown_connection = await client.post(
        "/webhooks/whatsapp/999999", content=body, headers=headers
    )
    assert [r.status_code for r in (tampered, unsigned, wrong_secret, unknown_connection)] == [
        401
    ] * 4
    assert tampered.headers["content-type"].startswith("application/problem+json")
    assert await inbox_count(stack) == before


THEIR_TOKEN, THEIR_SECRET = "their-token", "their-secret"


def _workspace_app(
    stack: Stack, *, access_token: str = THEIR_TOKEN, app_secret: str = THEIR_SECRET
) -> int:
    """A workspace's own WhatsApp app installed in the integration engine: its id."""
    connection = new_id()
    stack.engine_fake.install(
        SenderConnection(
            connection_id=connection,
            account_id=new_id(),
            phone_number_id="555",
            waba_id="666",
            access_token=access_token,
            app_secret=app_secret,
        )
    )
    return connection


async def test_a_workspace_app_is_checked_with_its_own_secret(
    client: AppClient, stack: Stack
) -> None:
    connection = _workspace_app(stack)
    body = (WEBHOOKS / "status-sent.json").read_bytes()
    theirs = await client.post(
        f"/webhooks/whatsapp/{connection}", content=body, headers=signed(body, "their-secret")
    )
    ours = await client.post(
        f"/webhooks/whatsapp/{connection}", content=body, headers=signed(body, APP_SECRET)
    )
    assert (theirs.status_code, ours.status_code) == (200, 401)


async def test_a_connection_without_a_secret_is_refused(client: AppClient, stack: Stack) -> None:
    connection = _workspace_app(stack, app_secret="")
    body = (WEBHOOKS / "status-sent.json").read_bytes()
    before = await inbox_count(stack)
    with structlog.testing.capture_logs() as logs:
        response = await client.post(
            f"/webhooks/whatsapp/{connection}", content=body, headers=signed(body, "")
        )
    assert response.status_code == 503
    assert await inbox_count(stack) == before
    # The operator's line names the path Meta posted to.
    [refused] = [line for line in logs if line["event"] == "request refused: not configured"]
    assert refused["path"] == f"/webhooks/whatsapp/{connection}"


async def test_database_down_answers_5xx_so_meta_retries() -> None:
    config = Config(
        database_url=f"mysql+asyncmy://root@127.0.0.1:{free_port()}/nothing",
        meta_app_secret=APP_SECRET,
    )
    body = (WEBHOOKS / "status-sent.json").read_bytes()
    async with http_client(config) as client:
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
        )
        # POSTs arriving together are stored together: every one of them hears of the failure.
        together = await asyncio.gather(
            *(
                client.post("/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET))
                for _ in range(16)
            )
        )
    assert response.status_code == 503
    assert [r.status_code for r in together] == [503] * 16


async def test_concurrent_posts_are_each_answered_once_their_body_is_stored(
    client: AppClient, stack: Stack
) -> None:
    bodies = [
        statuses_body([status(f"wamid.GC{new_id()}", "delivered", recipient="919800000000")])
        for _ in range(40)
    ]
    answers = await asyncio.gather(
        *(
            client.post("/webhooks/whatsapp", content=b, headers=signed(b, APP_SECRET))
            for b in bodies
        )
    )
    assert [a.status_code for a in answers] == [200] * 40
    stored = {r["body"] for r in await stack.rows("wa_webhook_inbox")}
    assert set(bodies) <= stored


async def test_a_thousand_statuses_in_one_post_are_stored_once(
    client: AppClient, stack: Stack
) -> None:
    prefix = f"wamid.bulk{new_id()}."
    body = statuses_body(status(f"{prefix}{i}", "delivered") for i in range(1000))
    assert len(body) < 3_000_000
    for _ in range(2):
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
        )
        assert response.status_code == 200
        await drain(client)
    rows = [
        r
        for r in await stack.rows("wa_dlr_messages", status="delivered")
        if r["message_id"].startswith(prefix)
    ]
    assert len(rows) == 1000
    assert len({r["message_id"] for r in rows}) == 1000
    assert json.loads(rows[0]["payload"])["status"] == "delivered"


async def _outgoing(stack: Stack, status_now: MessageStatus = MessageStatus.ACCEPTED) -> str:
    wamid = f"wamid.order{new_id()}"
    async with SqlUnitOfWork(stack.db) as uow:
        await uow.messages.add(OutgoingMessageFactory.build(message_id=wamid, status=status_now))
        await uow.commit()
    return wamid


@pytest.mark.parametrize(
    ("arrivals", "final"),
    [
        (["delivered", "read", "sent"], "read"),
        (["read", "sent", "delivered"], "read"),
        (["sent", "read", "delivered"], "read"),
        (["read"], "read"),
        (["sent", "failed"], "failed"),
        (["sent", "delivered", "delivered", "sent"], "delivered"),
    ],
)
async def test_statuses_in_any_order_move_only_forward(
    client: AppClient, stack: Stack, arrivals: list[str], final: str
) -> None:
    wamid = await _outgoing(stack)
    for i, state in enumerate(arrivals):
        body = statuses_body(
            [
                status(
                    wamid,
                    state,
                    timestamp=str(1_750_000_000 + i),
                    error_code=131026 if state == "failed" else None,
                )
            ]
        )
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
        )
        assert response.status_code == 200
        await drain(client)
    [message] = await stack.rows("wa_outgoing_messages", message_id=wamid)
    assert message["status"] == final
    reports = await stack.rows("wa_dlr_messages", message_id=wamid)
    assert sorted(r["status"] for r in reports) == sorted(set(arrivals))
    assert {r["wa_outgoing_message_id"] for r in reports} == {message["id"]}
    if final == "failed":
        assert message["error_code"] == 131026


async def test_a_status_for_a_message_not_yet_known_is_kept(
    client: AppClient, stack: Stack
) -> None:
    wamid = f"wamid.early{new_id()}"
    body = statuses_body([status(wamid, "delivered")])
    await client.post("/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET))
    await drain(client)
    [report] = await stack.rows("wa_dlr_messages", message_id=wamid)
    assert report["wa_outgoing_message_id"] is None


async def test_a_timed_out_send_is_reconciled_by_its_callback_data(
    client: AppClient, stack: Stack
) -> None:
    message = OutgoingMessageFactory.build(message_id=None, status=MessageStatus.UNKNOWN)
    async with SqlUnitOfWork(stack.db) as uow:
        await uow.messages.add(message)
        await uow.commit()
    wamid = f"wamid.found{new_id()}"
    body = statuses_body([status(wamid, "sent", callback=message.client_ref)])
    await client.post("/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET))
    await drain(client)
    [stored] = await stack.rows("wa_outgoing_messages", client_ref=message.client_ref)
    assert (stored["message_id"], stored["status"]) == (wamid, "sent")


async def test_the_bare_path_is_the_default_connection_whatever_the_query_says(
    client: AppClient, stack: Stack
) -> None:
    connection = new_id()
    stack.engine_fake.install(
        SenderConnection(
            connection_id=connection,
            account_id=new_id(),
            phone_number_id="555",
            waba_id="666",
            access_token="their-token",
            app_secret="their-secret",
        )
    )
    body = (WEBHOOKS / "status-sent.json").read_bytes()
    # One handler serves both paths: the connection comes from the path only.
    theirs = await client.post(
        "/webhooks/whatsapp",
        params={"connection_id": connection},
        content=body,
        headers=signed(body, "their-secret"),
    )
    assert theirs.status_code == 401


@pytest.mark.parametrize(
    "token", ["their\ntoken", "their-token\x00", "their-tökén"], ids=["LF", "NUL", "non-ASCII"]
)
async def test_a_workspace_app_whose_token_cannot_be_sent_still_has_its_webhooks_taken(
    client: AppClient, stack: Stack, token: str
) -> None:
    # A webhook is checked with the app secret alone: a token that cannot go out in a header
    # stops that workspace's sends (with a reason), not the statuses and answers Meta posts
    # for what it sent before (refused with 503, they are lost once Meta gives up).
    connection = _workspace_app(stack, access_token=token)
    body = (WEBHOOKS / "status-sent.json").read_bytes()
    before = await inbox_count(stack)
    response = await client.post(
        f"/webhooks/whatsapp/{connection}", content=body, headers=signed(body, "their-secret")
    )
    assert response.status_code == 200
    assert await inbox_count(stack) == before + 1
