"""A body Meta delivered again is alerted once whichever of the two is closed first: pumps
share the bodies (docs/webhooks.md, "Isolation"), so the redelivery's pass may close before
the pass that took the first one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import structlog

from application.use_cases.inbox.bodies import Body, ProcessedBatch
from application.use_cases.inbox.closing import CloseBodies
from domain.records import WebhookDelivery
from domain.webhook import ElementProblem, ElementProblemKind, ParsedWebhook
from tests.conftest import UowFactory
from tests.support.doubles import FixedClock

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ALERT = "ALERT webhook elements not applied"


async def test_a_body_closed_after_its_redelivery_is_alerted_once(
    uow_factory: UowFactory,
) -> None:
    new_uow = uow_factory
    body = json.dumps(  # a body of its own: the MariaDB database is shared
        {"object": "whatsapp_business_account", "entry": [{"id": uuid.uuid4().hex}]}
    ).encode()
    async with new_uow() as uow:
        first = await uow.inbox.add(WebhookDelivery(connection_id=None, body=body, received_at=NOW))
        again = await uow.inbox.add(
            WebhookDelivery(connection_id=None, body=body, received_at=NOW + timedelta(seconds=30))
        )
        await uow.commit()
    problem = ElementProblem(
        element="entry[0].errors[0]",
        kind=ElementProblemKind.META_ERROR,
        detail="(131000) Something went wrong",
        code=131000,
    )
    close = CloseBodies(new_uow(), FixedClock(NOW))
    counted: dict[str, int] = {}

    with structlog.testing.capture_logs() as logs:
        for delivery in (again, first):  # another pump closed the redelivery first
            batch = ProcessedBatch()
            await close([Body(delivery, ParsedWebhook(), [problem])], batch, NOW)
            for kind, count in batch.problems.items():
                counted[kind] = counted.get(kind, 0) + count

    assert len([e for e in logs if e["event"] == ALERT]) == 1
    assert counted == {"meta_error": 1}
