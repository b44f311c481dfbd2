"""The Alembic chain: creates every table on MariaDB and SQLite, matches the code, goes back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from infrastructure.db.engine import create_engine
from infrastructure.db.migrations import (
    _alembic_config,
    downgrade,
    expected_head,
    known_revisions,
    upgrade,
)
from infrastructure.db.tables import metadata

SEED_TABLES = {
    "wa_outgoing_messages",
    "wa_dlr_messages",
    "wa_customer_reply_messages",
    "wa_templates",
    "poe_channel_notifications",
    "poe_channel_settings",
}
PRODUCT_TABLES = {
    "wa_conversations",
    "wa_fdr_reason_rules",
    "wa_fdr_events",
    "wa_webhook_inbox",
    "wa_ndr_actions",
    "wa_link_clicks",
}
PROJECT = Path(__file__).resolve().parents[2]


def _tables_and_drift(database_url: str) -> tuple[set[str], list[object]]:
    async def inspect_db() -> tuple[set[str], list[object]]:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as conn:

                def read(sync: Connection) -> tuple[set[str], list[object]]:
                    names = set(inspect(sync).get_table_names())
                    context = MigrationContext.configure(sync, opts={"compare_type": True})
                    return names, list(compare_metadata(context, metadata))

                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(inspect_db())


def _cli(database_url: str, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WA_DATABASE_URL": database_url, **variables}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "composition.cli", "migrate", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_on_mariadb_creates_every_table_and_downgrade_removes_them(
    empty_mysql_database: str,
) -> None:
    up = _cli(empty_mysql_database)
    assert up.returncode == 0, up.stderr
    tables, drift = _tables_and_drift(empty_mysql_database)
    assert tables >= SEED_TABLES | PRODUCT_TABLES
    assert drift == []  # the migration and the code's tables agree

    down = _cli(empty_mysql_database, "--downgrade")
    assert down.returncode == 0, down.stderr
    tables, _ = _tables_and_drift(empty_mysql_database)
    assert tables <= {"alembic_version"}


def test_the_start_up_check_reads_the_chain_alembic_runs() -> None:
    """``serve`` checks the schema without importing Alembic: the same revisions, same head."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic_config("unused://"))
    alembic_chain = {
        script.revision: tuple(script._normalized_down_revisions)
        for script in scripts.walk_revisions()
    }
    assert known_revisions() == alembic_chain
    assert [expected_head()] == list(scripts.get_heads())


def test_the_same_chain_runs_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'fdr.db'}"
    assert _cli(url).returncode == 0
    tables, drift = _tables_and_drift(url)
    assert tables >= SEED_TABLES | PRODUCT_TABLES
    assert drift == []
    assert _cli(url, "--downgrade").returncode == 0
    assert _tables_and_drift(url)[0] <= {"alembic_version"}


def test_the_shipped_templates_go_to_the_configured_default_account(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fdr.db'}"
    assert _cli(url, WA_DEFAULT_ACCOUNT_ID="7").returncode == 0

    async def owners() -> set[int]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(text("SELECT DISTINCT account_id FROM wa_templates"))
                return {int(r[0]) for r in rows}
        finally:
            await engine.dispose()

    assert asyncio.run(owners()) == {7}


def test_skipped_events_recorded_before_0010_keep_their_reason(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fdr.db'}"
    upgrade(url, "0009")
    rows = [
        ("a", "skipped", "bad_phone: not a number: 12"),
        ("b", "skipped", "no reason given"),
        ("c", "sent", "accepted: by Meta"),
    ]

    async def run(sql: str, *params: dict[str, str]) -> list[tuple[object, ...]]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                if params:
                    await conn.execute(text(sql), list(params))
                    return []
                return [tuple(r) for r in await conn.execute(text(sql))]
        finally:
            await engine.dispose()

    asyncio.run(
        run(
            "INSERT INTO wa_fdr_events (event_key, outcome, detail, received_at, created_at,"
            " updated_at) VALUES (:k, :o, :d, '2026-11-20 10:00:00', '2026-11-20 10:00:00',"
            " '2026-11-20 10:00:00')",
            *({"k": k, "o": o, "d": d} for k, o, d in rows),
        )
    )
    upgrade(url)

    got = asyncio.run(run("SELECT event_key, skip_reason FROM wa_fdr_events ORDER BY event_key"))
    assert got == [("a", "bad_phone"), ("b", None), ("c", None)]


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_ndr_actions_recorded_before_0011_have_no_address_and_0011_goes_back(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'fdr.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("empty_mysql_database")
    )
    upgrade(url, "0010")

    async def run(sql: str) -> list[tuple[object, ...]]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(sql))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    asyncio.run(
        run(
            "INSERT INTO wa_ndr_actions (conversation_id, account_id, shipment_id,"
            " external_shipment_id, kind, reply_message_id, disputed_fake_attempt, state,"
            " attempts, result, created_at, updated_at) VALUES (1, 2, 3, '', 'update_address',"
            " 'tracking-page:1:update_address', 0, 'done', 1, 'ESB-1', '2026-11-20 10:00:00',"
            " '2026-11-20 10:00:00')"
        )
    )
    upgrade(url)
    assert asyncio.run(run("SELECT kind, address FROM wa_ndr_actions")) == [
        ("update_address", None)
    ]
    downgrade(url, "0010")  # the row stays, without its address
    kept = asyncio.run(run("SELECT kind, state FROM wa_ndr_actions"))
    assert kept == [("update_address", "done")]
