"""``/schema`` renders in a browser that cannot reach the internet: every asset of the API
docs page comes from the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest_asyncio
from playwright.async_api import Browser, Route

from composition.container import build_container
from entrypoints.http.app import create_app
from infrastructure.config import Config
from tests.support.browser import served, watched_page
from tests.support.portal import SECRET


@pytest_asyncio.fixture(loop_scope="session")
async def site(mysql_url: str) -> AsyncIterator[str]:
    config = Config(database_url=mysql_url, auth_jwt_secret=SECRET)
    async with served(create_app(build_container(config), run_pump=False)) as url:
        yield url


async def test_the_api_docs_render_offline(site: str, browser: Browser) -> None:
    outside: list[str] = []

    async def offline(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:  # what a machine without internet would get
            outside.append(route.request.url)
            await route.abort("internetdisconnected")

    async with watched_page(browser) as watched:
        await watched.page.route("**/*", offline)
        await watched.page.goto(f"{site}/schema")
        title = watched.page.locator(".swagger-ui .info .title")
        await title.wait_for(timeout=60_000)
        assert "fdr-whatsapp" in await title.inner_text()
        assert await watched.page.locator(".opblock").count() > 10  # the operations
        await watched.screenshot("schema")
        assert outside == []
        assert watched.errors == []
