"""Liveness and readiness for the orchestrator."""

from __future__ import annotations

from typing import Any

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, Response, get

from application.use_cases.readiness import CheckReadiness


class Health(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]  # noqa: RUF012

    @get("/live", summary="The process is up")
    async def live(self) -> Health:
        return Health(status="ok")

    @get("/ready", summary="The database (and Redis, when configured) answer; 503 if not")
    async def ready(self, check: FromDishka[CheckReadiness]) -> Response[Any]:
        readiness = await check()
        body = Health(status="ok" if readiness.ready else "unavailable", checks=readiness.checks)
        return Response(body, status_code=200 if readiness.ready else 503)
