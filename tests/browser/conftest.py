"""The browser tests' fixtures: one headless Chromium per test, and the service served on a
real port for it (a module that needs another app defines its own ``site``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest_asyncio
from playwright.async_api import Browser

from composition.container import build_container
from entrypoints.http.app import create_app
from tests.support.browser import chromium, served

if TYPE_CHECKING:
    from tests.support.stack import Stack


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def site(stack: Stack) -> AsyncIterator[str]:
    """The service as ``serve`` runs it on the module's ``stack``, on a real port for the
    browser; its webhook pump does not run by itself."""
    async with served(create_app(build_container(stack.config), run_pump=False)) as url:
        yield url
