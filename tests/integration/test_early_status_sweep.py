"""The worker's scheduler loop sweeps statuses stored ahead of their message: the real
container, the real clock, a database of its own (docs/sending.md, "Statuses ahead of Meta's
answer"; the races themselves are in test_send_path.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog.testing
from prometheus_client import REGISTRY

from composition.container import build_container
from domain.status import MessageStatus
from entrypoints.scheduler import SchedulerLoop
from infrastructure.config import Config
from infrastructure.db.engine import create_engine
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import copy_of_template, new_id
from tests.support.factories import DeliveryReportFactory, OutgoingMessageFactory

LINKED = "fdr_early_statuses_linked_total"


def _linked_so_far() -> float:
    return REGISTRY.get_sample_value(LINKED) or 0.0


async def test_the_worker_loop_links_a_status_nobody_linked_and_counts_it(
    sqlite_template: Path, tmp_path: Path
) -> None:
    url = copy_of_template(sqlite_template, tmp_path)
    engine = create_engine(url)
    wamid = f"wamid.swept{new_id()}"
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    try:
        async with SqlUnitOfWork(engine) as uow:
            message = await uow.messages.add(
                OutgoingMessageFactory.build(message_id=wamid, status=MessageStatus.ACCEPTED)
            )
            await uow.delivery_reports.add_many(
                [
                    DeliveryReportFactory.build(
                        message_id=wamid,
                        status=MessageStatus.DELIVERED,
                        external_timestamp=a_minute_ago,
                        created_at=a_minute_ago,
                    )
                ]
            )
            await uow.commit()
        before = _linked_so_far()
        container = build_container(dataclasses.replace(Config(), database_url=url))
        try:
            loop = SchedulerLoop(container)
            with structlog.testing.capture_logs() as logs:
                assert await loop.sweep_once() == 1
            assert await loop.sweep_once() == 0  # nothing left
        finally:
            await container.close()
        async with SqlUnitOfWork(engine) as uow:
            stored = await uow.messages.get(message.id or 0)
            [report] = await uow.delivery_reports.for_message(wamid)
    finally:
        await engine.dispose()
    assert stored is not None
    assert stored.status is MessageStatus.DELIVERED
    assert report.wa_outgoing_message_id == message.id
    assert _linked_so_far() == before + 1
    linked = [e for e in logs if e["event"].endswith("linked by the sweep")]
    assert [e["messages"] for e in linked] == [[message.id]]
