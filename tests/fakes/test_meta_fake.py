"""The fake Graph API itself: it must refuse what Meta refuses and page like Meta pages."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.conftest import FIXTURES
from tests.fakes.meta import FakeGraphApi, send_schema_error

PHONE_ID = "106540352242922"
WABA_ID = "102290129340398"
TOKEN = "EAAG-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest_asyncio.fixture(loop_scope="session")
async def fake() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi() as fake:
        fake.add_sender(phone_number_id=PHONE_ID, waba_id=WABA_ID, token=TOKEN)
        yield fake


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client


def seed(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return body


def interactive(titles: list[str]) -> dict[str, Any]:
    body = seed("meta-send-interactive-dates.json")
    body["interactive"]["action"]["buttons"] = [
        {"type": "reply", "reply": {"id": f"b{i}", "title": t}} for i, t in enumerate(titles)
    ]
    return body


async def post(
    fake: FakeGraphApi, http: httpx.AsyncClient, body: object, token: str | None = TOKEN
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await http.post(f"{fake.base_url}/v23.0/{PHONE_ID}/messages", json=body, headers=headers)


# --- schema ----------------------------------------------------------------------------------


async def test_the_seed_template_example_is_accepted(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    response = await post(fake, http, seed("meta-send-template.json"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["messages"][0]["id"].startswith("wamid.")
    assert answer["messages"][0]["message_status"] == "accepted"
    assert answer["contacts"] == [{"input": "919650186697", "wa_id": "919650186697"}]
    assert [r.body for r in fake.requests] == [seed("meta-send-template.json")]


async def test_the_seed_interactive_example_is_accepted_without_a_message_status(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    response = await post(fake, http, seed("meta-send-interactive-dates.json"))
    assert response.status_code == 200, response.text
    assert "message_status" not in response.json()["messages"][0]
    assert len(fake.requests) == 1


async def test_the_seed_text_example_is_rejected_for_its_top_level_preview_url(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    response = await post(fake, http, seed("meta-send-text.json"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    assert error["type"] == "OAuthException"
    assert error["message"] == "(#100) Invalid parameter"
    assert "preview_url" in error["error_data"]["details"]
    assert fake.requests == []
    assert len(fake.rejected) == 1


async def test_the_text_example_with_preview_url_inside_text_is_accepted(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    body = seed("meta-send-text.json")
    body["text"]["preview_url"] = body.pop("preview_url")
    response = await post(fake, http, body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("titles", "accepted"),
    [
        (["a", "b", "c"], True),
        (["a", "b", "c", "d"], False),
        (["x" * 20], True),
        (["x" * 21], False),
        ([], False),
    ],
    ids=["3-buttons", "4-buttons", "20-chars", "21-chars", "no-button"],
)
async def test_reply_buttons_are_held_to_meta_limits(
    fake: FakeGraphApi, http: httpx.AsyncClient, titles: list[str], accepted: bool
) -> None:
    response = await post(fake, http, interactive(titles))
    assert (response.status_code == 200) is accepted, response.text
    assert len(fake.requests) == int(accepted)
    assert len(fake.rejected) == int(not accepted)


def test_callback_data_is_allowed_up_to_512_characters() -> None:
    body = seed("meta-send-template.json")
    body["biz_opaque_callback_data"] = "r" * 512
    assert send_schema_error(body) is None
    body["biz_opaque_callback_data"] = "r" * 513
    assert send_schema_error(body) is not None


def test_the_first_quick_reply_button_index_is_valid() -> None:
    # The spec's own index pattern would refuse "0" (docs/meta.md#sends); the fake drops it.
    body = seed("meta-send-template.json")
    body["template"]["components"].append(
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "reattempt:1"}],
        }
    )
    assert send_schema_error(body) is None


def test_unknown_envelope_fields_and_missing_recipient_are_refused() -> None:
    body = seed("meta-send-interactive-dates.json")
    assert send_schema_error({**body, "colour": "blue"}) is not None
    without_to = copy.deepcopy(body)
    del without_to["to"]
    assert send_schema_error(without_to) is not None


async def test_a_body_that_is_not_json_is_refused(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        f"{fake.base_url}/v23.0/{PHONE_ID}/messages", content=b"{not json", headers=AUTH
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


# --- auth and faults -------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong", None], ids=["wrong", "missing"])
async def test_a_wrong_or_missing_token_gets_401_code_190(
    fake: FakeGraphApi, http: httpx.AsyncClient, token: str | None
) -> None:
    response = await post(fake, http, seed("meta-send-template.json"), token=token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190
    assert fake.requests == []


async def test_a_token_of_another_number_is_refused(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    fake.add_sender(phone_number_id="999", waba_id="998", token="other-token")
    response = await post(fake, http, seed("meta-send-template.json"), token="other-token")
    assert response.status_code == 401


async def test_faults_are_consumed_in_order(fake: FakeGraphApi, http: httpx.AsyncClient) -> None:
    fake.fail_next(130429, times=2)
    fake.fail_next(2, http_status=503, message="down for a moment")
    body = seed("meta-send-template.json")
    answers = [await post(fake, http, body) for _ in range(4)]
    assert [a.status_code for a in answers] == [400, 400, 503, 200]
    assert [a.json()["error"]["code"] for a in answers[:3]] == [130429, 130429, 2]
    assert answers[2].json()["error"]["message"] == "down for a moment"
    assert fake.send_attempts == 4
    assert len(fake.requests) == 1


async def test_a_delayed_answer_is_late_but_the_message_was_taken(fake: FakeGraphApi) -> None:
    fake.delay_next(1.0)
    async with httpx.AsyncClient(timeout=0.2) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await post(fake, impatient, seed("meta-send-template.json"))
    assert len(fake.requests) == 1


async def test_a_dropped_connection_still_took_the_message(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    fake.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        await post(fake, http, seed("meta-send-template.json"))
    assert len(fake.requests) == 1
    assert (await post(fake, http, seed("meta-send-template.json"))).status_code == 200


async def test_every_accepted_message_gets_its_own_wamid(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    body = seed("meta-send-interactive-dates.json")
    ids = [(await post(fake, http, body)).json()["messages"][0]["id"] for _ in range(5)]
    assert len(set(ids)) == 5
    assert [r.message_id for r in fake.requests] == ids


# --- templates -------------------------------------------------------------------------------


async def test_templates_are_paged_with_cursors_and_absolute_next_links(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    for i in range(5):
        fake.add_template(WABA_ID, f"t{i}", "en", "APPROVED", "Hello {{1}}", ("Yes", "No"))
    url: str | None = f"{fake.base_url}/v23.0/{WABA_ID}/message_templates"
    params: dict[str, str] | None = {"fields": "name,status", "limit": "2"}
    names: list[str] = []
    pages = 0
    while url is not None:
        answer = (await http.get(url, params=params, headers=AUTH)).json()
        pages += 1
        names += [t["name"] for t in answer["data"]]
        assert all(set(t) == {"name", "status", "id"} for t in answer["data"])
        assert set(answer["paging"]["cursors"]) == {"before", "after"}
        url, params = answer["paging"].get("next"), None
        assert url is None or url.startswith(fake.base_url)
    assert names == ["t0", "t1", "t2", "t3", "t4"]
    assert pages == 3
    assert fake.list_calls[WABA_ID] == 3


async def test_a_template_is_listed_in_meta_read_model(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    template_id = fake.add_template(
        WABA_ID, "fdr_refused", "en", "APPROVED", "Hi {{1}}, order {{2}}", ("Reattempt",)
    )
    answer = (
        await http.get(f"{fake.base_url}/v23.0/{WABA_ID}/message_templates", headers=AUTH)
    ).json()
    assert answer["data"] == [
        {
            "name": "fdr_refused",
            "parameter_format": "POSITIONAL",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, order {{2}}",
                    "example": {"body_text": [["example 1", "example 2"]]},
                },
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Reattempt"}]},
            ],
            "language": "en",
            "status": "APPROVED",
            "category": "UTILITY",
            "id": template_id,
        }
    ]
    assert "next" not in answer["paging"]


async def test_template_list_needs_the_waba_token(
    fake: FakeGraphApi, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        f"{fake.base_url}/v23.0/{WABA_ID}/message_templates",
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190
    assert fake.list_calls[WABA_ID] == 0
