"""Bodies the portal cannot read (nested too deeply, not UTF-8) are a 400 problem and change
nothing; a body over the size limit is a 413."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conftest import new_id
from tests.integration.test_portal_templates import draft
from tests.support.portal import PortalEnv, api, bearer, portal_env


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(mysql_url: str) -> AsyncIterator[PortalEnv]:
    async with portal_env(mysql_url) as running:
        yield running


def nested(depth: int) -> bytes:
    return b'{"isWhatsappEnabled": true, "templates": ' + b"[" * depth + b"]" * depth + b"}"


UNREADABLE = {
    "nested-10k": (nested(10_000), "nested too deeply"),
    "nested-100k": (nested(100_000), "nested too deeply"),
    "top-level-nested": (b"[" * 5_000 + b"]" * 5_000, "nested too deeply"),
    "latin-1": ('{"isWhatsappEnabled": true, "name": "caf\xe9"}'.encode("latin-1"), "UTF-8"),
    "bad-bytes-in-a-string": (b'{"name": "\xff\xfe", "language": "en"}', "UTF-8"),
    "utf-16": ('{"isWhatsappEnabled": true}'.encode("utf-16"), ""),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
async def test_an_unreadable_body_is_a_400_problem_and_changes_nothing(
    env: PortalEnv, case: str
) -> None:
    body, says = UNREADABLE[case]
    account = new_id()
    created = await env.post(account, "/templates", draft())
    assert created.status_code == 201, created.text
    template = created.json()
    settings_before = (await env.get(account, "/settings")).json()

    for method, path in (
        ("PUT", "/settings"),
        ("POST", "/templates"),
        ("PUT", f"/templates/{template['id']}"),
    ):
        response = await env.client.request(
            method,
            api(account, path),
            content=body,
            headers={**bearer(account), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 400
        assert says in response.json()["detail"]

    assert (await env.get(account, "/settings")).json() == settings_before
    assert (await env.get(account, f"/templates/{template['id']}")).json() == template
    listed = (await env.get(account, "/templates")).json()
    assert [t["id"] for t in listed if not t["isDefault"]] == [template["id"]]


async def test_a_body_over_the_size_limit_is_a_413_problem(env: PortalEnv) -> None:
    account = new_id()
    huge = b'{"isWhatsappEnabled": true, "pad": "' + b"x" * (11 * 1024 * 1024) + b'"}'

    response = await env.client.put(
        api(account, "/settings"),
        content=huge,
        headers={**bearer(account), "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
