"""Building the HTTP app around a container, for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dishka import Provider
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.http.app import create_app
from entrypoints.wiring import build_container
from infrastructure.config import Config


@asynccontextmanager
async def http_client(
    config: Config, *overrides: Provider
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(build_container(config, *overrides))
    async with AsyncTestClient(app=app) as client:
        yield client
