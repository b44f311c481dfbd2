"""Operators' one-shot commands, run as the real CLI: ``fdr-whatsapp purge``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from domain.records import WebhookDelivery
from domain.scheduling import REMINDER, ScheduledJob
from infrastructure.db.engine import create_engine
from infrastructure.db.migrations import upgrade
from infrastructure.db.uow import SqlUnitOfWork

PROJECT = Path(__file__).resolve().parents[2]


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "composition.cli", *args],
        cwd=PROJECT,
        env={**os.environ, "WA_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _store(
    database_url: str, bodies: list[tuple[bytes, timedelta | None, str | None]]
) -> None:
    now = datetime.now(UTC)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with SqlUnitOfWork(engine) as uow:
            for body, processed_ago, error in bodies:
                stored = await uow.inbox.add(
                    WebhookDelivery(connection_id=None, body=body, received_at=now)
                )
                assert stored.id is not None
                if processed_ago is not None:
                    await uow.inbox.mark_processed(stored.id, now - processed_ago, error)
            await uow.commit()
    finally:
        await engine.dispose()


async def _column(database_url: str, query: str) -> list[Any]:
    """The first column of what ``query`` selects, row by row."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return [r[0] for r in await conn.execute(text(query))]
    finally:
        await engine.dispose()


async def _left(database_url: str) -> list[bytes]:
    return [
        bytes(b)
        for b in await _column(database_url, "SELECT body FROM wa_webhook_inbox ORDER BY id")
    ]


def test_purge_deletes_old_processed_bodies_and_keeps_the_rest(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fdr.db'}"
    upgrade(url)
    asyncio.run(
        _store(
            url,
            [
                (b"processed 30 days ago", timedelta(days=30), None),
                (b"processed 20 days ago", timedelta(days=20), None),
                (b"unreadable, 30 days ago", timedelta(days=30), "malformed: not JSON"),
                (b"processed yesterday", timedelta(days=1), None),
                (b"still pending", None, None),
            ],
        )
    )

    purged = _cli(url, "purge", "--older-than-days", "14")

    assert purged.returncode == 0, purged.stderr
    assert "deleted 2 processed webhook bodies older than 14 days" in purged.stdout
    assert "deleted 0 finished scheduled jobs older than 14 days" in purged.stdout
    assert asyncio.run(_left(url)) == [
        b"unreadable, 30 days ago",
        b"processed yesterday",
        b"still pending",
    ]


async def _schedule(database_url: str, jobs: dict[str, timedelta | None]) -> None:
    """Reminders due (and claimed) that long ago, done then; None: waiting still."""
    now = datetime.now(UTC)
    engine = create_engine(database_url, pool_size=1)
    try:
        for key, done_ago in jobs.items():
            when = now - (done_ago or timedelta(days=30))
            async with SqlUnitOfWork(engine) as uow:
                job = ScheduledJob(
                    kind=REMINDER, key=key, account_id=5, due_at=when, created_at=when
                )
                await uow.jobs.schedule(job)
                if done_ago is not None:
                    await uow.jobs.finish(
                        await uow.jobs.claim_due(when, timedelta(minutes=5), 1), when
                    )
                await uow.commit()
    finally:
        await engine.dispose()


async def _jobs_left(database_url: str) -> list[str]:
    return await _column(database_url, "SELECT job_key FROM wa_scheduled_jobs ORDER BY id")


def test_purge_deletes_old_finished_jobs_and_keeps_pending_ones(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fdr.db'}"
    upgrade(url)
    asyncio.run(
        _schedule(
            url,
            {
                "done 30 days ago": timedelta(days=30),
                "done 20 days ago": timedelta(days=20),
                "done yesterday": timedelta(days=1),
                "due 30 days ago, never run": None,
            },
        )
    )

    purged = _cli(url, "purge", "--older-than-days", "14")

    assert purged.returncode == 0, purged.stderr
    assert "deleted 2 finished scheduled jobs older than 14 days" in purged.stdout
    assert asyncio.run(_jobs_left(url)) == ["done yesterday", "due 30 days ago, never run"]


def test_purge_refuses_a_negative_age_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fdr.db'}"

    refused = _cli(url, "purge", "--older-than-days", "-3")

    assert refused.returncode == 2
    assert "'-3' is not a whole number of days" in refused.stderr


def test_webhooks_show_prints_a_body_s_fate_and_retry_re_processes_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fdr.db'}"
    upgrade(url)
    bad = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages",'
        b'"value":{"metadata":{"phone_number_id":"sandbox"},"statuses":[{"id":"wamid.A",'
        b'"status":"delivered","timestamp":"later","recipient_id":"917891971009"}]}}]}]}'
    )
    asyncio.run(_store(url, [(bad, None, None), (b"not json", None, None)]))

    retried = _cli(url, "webhooks", "retry", "1", "2")
    shown = _cli(url, "webhooks", "show", "1", "--body")
    missing = _cli(url, "webhooks", "show", "99")
    errors = _cli(url, "webhooks", "retry", "--errors")

    assert retried.returncode == 0, retried.stderr
    assert "re-processed 2 webhook bodies" in retried.stdout
    assert "body 2: processed with errors" in retried.stdout
    assert "error: malformed:" in retried.stdout
    assert shown.returncode == 0, shown.stderr
    assert "body 1: processed with errors" in shown.stdout
    assert "unreadable at entry[0].changes[0].value.statuses[0]: timestamp 'later'" in shown.stdout
    assert "917891971009" not in shown.stdout  # the body is printed with the number masked
    assert "*******1009" in shown.stdout
    assert missing.returncode == 1
    assert "webhook body 99 not found" in missing.stdout
    assert errors.returncode == 0, errors.stderr
    assert "re-processed 2 webhook bodies" in errors.stdout
