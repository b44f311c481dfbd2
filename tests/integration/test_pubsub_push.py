"""``POST /pubsub/push/fdr``: the push subscription's way in, same handling as the worker."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from tests.conftest import new_id
from tests.fakes.google_oidc import PUSH_ACCOUNT, PUSH_AUDIENCE, GoogleCerts, push_token
from tests.support.app import AppClient
from tests.support.stack import (
    LONG_NAMES,
    UNSTORABLE,
    Stack,
    changed_event,
    fdr_event,
    running_stack,
    stack_fixture,
)

stack = stack_fixture(worker=False)


def envelope(data: bytes, message_id: str | None = None) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id or str(new_id()),
            "publishTime": "2026-11-25T05:00:00Z",
            "attributes": {},
        },
        "subscription": "projects/test/subscriptions/fdr-push",
    }


async def test_a_pushed_event_is_sent_and_acknowledged(stack: Stack, client: AppClient) -> None:
    account = new_id()
    await stack.enable(account)
    event = json.dumps(fdr_event(account_id=account)).encode()
    first = await client.post("/pubsub/push/fdr", json=envelope(event))
    again = await client.post("/pubsub/push/fdr", json=envelope(event))
    assert (first.status_code, again.status_code) == (204, 204)
    assert len(stack.meta.requests) == 1


async def test_a_throttled_send_asks_pubsub_to_push_again(stack: Stack, client: AppClient) -> None:
    account = new_id()
    await stack.enable(account)
    for _ in range(4):  # every attempt the gateway makes in its bound
        stack.meta.fail_next(130429)
    event = json.dumps(fdr_event(account_id=account)).encode()
    retry = await client.post("/pubsub/push/fdr", json=envelope(event))
    assert retry.status_code == 503
    assert retry.headers["content-type"].startswith("application/problem+json")
    assert int(retry.headers["retry-after"]) > 0
    later = await client.post("/pubsub/push/fdr", json=envelope(event))
    assert later.status_code == 204
    assert len(stack.meta.requests) == 1


async def test_poison_and_foreign_events_are_acknowledged(stack: Stack, client: AppClient) -> None:
    poison = await client.post("/pubsub/push/fdr", json=envelope(b"{{{"))
    delivered = await client.post(
        "/pubsub/push/fdr", json=envelope(b'{"resource":"shipment","eventSubType":"delivered"}')
    )
    assert (poison.status_code, delivered.status_code) == (204, 204)
    assert stack.meta.send_attempts == 0


@pytest.mark.parametrize("case", list(UNSTORABLE))
async def test_an_event_the_tables_cannot_hold_is_recorded_as_skipped_and_acknowledged(
    stack: Stack, client: AppClient, case: str
) -> None:
    changes, named = UNSTORABLE[case]
    account = new_id()
    await stack.enable(account)
    message_id = str(new_id())
    pushed = envelope(json.dumps(changed_event(account, changes)).encode(), message_id)

    first = await client.post("/pubsub/push/fdr", json=pushed)
    again = await client.post("/pubsub/push/fdr", json=pushed)  # Pub/Sub pushing it again

    assert (first.status_code, again.status_code) == (204, 204)
    [record] = await stack.rows("wa_fdr_events", event_key=f"pubsub:{message_id}")
    assert record["outcome"] == "skipped"
    assert record["detail"].startswith("malformed: cannot be kept: ")
    assert named in record["detail"]
    if case != "negative account id":  # the workspace sees it in its numbers
        assert record["account_id"] == account
    assert await stack.rows("wa_conversations", account_id=account) == []
    assert stack.meta.send_attempts == 0


@pytest.mark.parametrize("case", list(LONG_NAMES))
async def test_a_name_longer_than_its_column_is_cut_and_the_event_sent(
    stack: Stack, client: AppClient, case: str
) -> None:
    changes, column = LONG_NAMES[case]
    account = new_id()
    await stack.enable(account)
    event = changed_event(account, changes)

    response = await client.post("/pubsub/push/fdr", json=envelope(json.dumps(event).encode()))

    assert response.status_code == 204
    assert len(stack.meta.requests) == 1
    [conversation] = await stack.rows("wa_conversations", shipment_id=event["response_data"]["id"])
    [given] = changes.values()
    assert conversation[column] == given[:255]


@pytest.mark.parametrize(
    "message_id",
    ["m" * 500, "नमस्ते-१२३", "id with spaces\tand\ncontrols"],
    ids=["500", "hindi", "controls"],
)
async def test_any_message_id_is_fine_for_good_and_poison_events(
    stack: Stack, client: AppClient, message_id: str
) -> None:
    account = new_id()
    await stack.enable(account)
    good = json.dumps(fdr_event(account_id=account)).encode()
    poison = envelope(b"{{{ not json", message_id)

    sent = await client.post("/pubsub/push/fdr", json=envelope(good, message_id))
    recorded = await client.post("/pubsub/push/fdr", json=poison)
    again = await client.post("/pubsub/push/fdr", json=poison)

    assert (sent.status_code, recorded.status_code, again.status_code) == (204, 204, 204)
    assert len(stack.meta.requests) == 1
    key = "pubsub:sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    [record] = await stack.rows("wa_fdr_events", event_key=key)
    assert record["detail"].startswith("malformed: not a shipment event")


async def test_a_bad_envelope_is_a_clear_400(client: AppClient) -> None:
    not_base64 = await client.post(
        "/pubsub/push/fdr", json={"message": {"data": "***", "messageId": "1"}}
    )
    no_message = await client.post("/pubsub/push/fdr", json={"subscription": "x"})
    nested = await client.post(
        "/pubsub/push/fdr",
        content=b'{"message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    not_utf8 = await client.post(
        "/pubsub/push/fdr",
        content=b'{"message": {"data": "", "messageId": "caf\xe9"}}',
        headers={"Content-Type": "application/json"},
    )
    for response in (not_base64, no_message, nested, not_utf8):
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
    assert "base64" in not_base64.json()["detail"]


async def test_an_event_nested_too_deeply_is_recorded_and_acknowledged(
    stack: Stack, client: AppClient
) -> None:
    message_id = str(new_id())
    event = b'{"resource": "shipment", "eventSubType": "failed_delivery", "response_data": '
    event += b"[" * 50_000 + b"]" * 50_000 + b"}"

    response = await client.post("/pubsub/push/fdr", json=envelope(event, message_id))

    assert response.status_code == 204
    [record] = await stack.rows("wa_fdr_events", event_key=f"pubsub:{message_id}")
    assert "nested too deeply" in record["detail"]


async def test_redis_down_the_event_is_still_handled(
    mysql_url: str, pubsub_emulator_host: str
) -> None:
    async with (
        running_stack(mysql_url, pubsub_emulator_host, redis_url="redis://127.0.0.1:1/0") as stack,
        stack.http(run_pump=False) as client,
    ):
        account = new_id()
        await stack.enable_without_cache(account)
        event = json.dumps(fdr_event(account_id=account)).encode()
        response = await client.post("/pubsub/push/fdr", json=envelope(event))
    assert response.status_code == 204
    assert len(stack.meta.requests) == 1


async def test_with_push_authentication_only_googles_signed_push_gets_in(
    mysql_url: str, pubsub_emulator_host: str
) -> None:
    token = "push-token-0123456789abcdef"
    google = GoogleCerts()
    await google.start()
    try:
        async with (
            running_stack(
                mysql_url,
                pubsub_emulator_host,
                pubsub_push_token=token,
                pubsub_push_audience=PUSH_AUDIENCE,
                pubsub_push_service_account=PUSH_ACCOUNT,
                pubsub_push_jwks_url=google.jwks_url,
            ) as stack,
            stack.http(run_pump=False) as client,
        ):
            account = new_id()
            await stack.enable(account)
            event = fdr_event(account_id=account)
            body = envelope(json.dumps(event).encode())
            signed = {"Authorization": f"Bearer {push_token()}"}
            forged = {"Authorization": f"Bearer {push_token(email='someone@evil.example')}"}

            anonymous = await client.post("/pubsub/push/fdr", json=body)
            token_only = await client.post(f"/pubsub/push/fdr?token={token}", json=body)
            wrong_account = await client.post(
                f"/pubsub/push/fdr?token={token}", json=body, headers=forged
            )
            # Checked before the body is read: an unauthenticated caller learns nothing of it.
            unread = await client.post(
                "/pubsub/push/fdr",
                content=b"not an envelope",
                headers={"Content-Type": "application/json"},
            )
            refused = (anonymous, token_only, wrong_account, unread)
            data = event["response_data"]
            recorded = await stack.fdr_outcome(data["id"], int(data["status_log_id"]))
            sends_while_refused = len(stack.meta.requests)

            accepted = await client.post(
                f"/pubsub/push/fdr?token={token}", json=body, headers=signed
            )
    finally:
        await google.stop()
    for response in refused:
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (recorded, sends_while_refused) == (None, 0)  # a refused push changes nothing
    assert accepted.status_code == 204
    assert len(stack.meta.requests) == 1
