"""The HTTP app around a container, served in the test's own event loop.

httpx's ASGI transport plus the app's lifespan: the app, its background pump and the fake
servers all share one loop, as they would share one process in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from dishka import Provider
from litestar import Litestar

from composition.container import build_container
from entrypoints.http.app import create_app
from infrastructure.config import Config


class AppClient(httpx.AsyncClient):
    """An httpx client bound to one app (``client.app`` for its state)."""

    def __init__(self, app: Litestar) -> None:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        super().__init__(transport=transport, base_url="http://testserver")
        self.app = app


@asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[AppClient]:
    # The app's own start-up and shutdown hooks (Litestar's lifespan() uses an anyio task group
    # that pytest-asyncio's fixtures would enter and leave from different tasks).
    for hook in app.on_startup:
        await hook()  # type: ignore[call-arg]
    try:
        async with AppClient(app) as client:
            yield client
    finally:
        for hook in app.on_shutdown:
            await hook()  # type: ignore[call-arg]


@asynccontextmanager
async def http_client(config: Config, *overrides: Provider) -> AsyncIterator[AppClient]:
    async with serve(create_app(build_container(config, *overrides))) as client:
        yield client
