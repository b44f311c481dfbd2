"""Liveness and readiness for the orchestrator."""

from __future__ import annotations

from typing import Any

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, Response, get

from application.use_cases.readiness import CheckReadiness
from infrastructure.metrics import DEPENDENCY_UP


class Health(msgspec.Struct, frozen=True):
    status: str  # ok, degraded (ready without an optional dependency) or unavailable
    checks: dict[str, str] = msgspec.field(default_factory=dict)
    #: Optional dependencies that failed: the service keeps working without them.
    degraded: list[str] = msgspec.field(default_factory=list)


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]  # noqa: RUF012

    @get("/live", summary="The process is up")
    async def live(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        summary="This process can do its work: 503 only if the database does not answer or "
        "is not migrated; Redis down is 200 with status 'degraded'",
    )
    async def ready(self, check: FromDishka[CheckReadiness]) -> Response[Any]:
        readiness = await check()
        for name, result in readiness.checks.items():
            DEPENDENCY_UP.labels(name).set(1 if result == "ok" else 0)
        if not readiness.ready:
            status = "unavailable"
        else:
            status = "degraded" if readiness.degraded else "ok"
        body = Health(status=status, checks=readiness.checks, degraded=readiness.degraded)
        return Response(body, status_code=200 if readiness.ready else 503)
