"""Running Alembic from the service: ``fdr-whatsapp migrate`` and the test fixtures."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

_PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _alembic_config(database_url: str, default_account_id: int | None = None) -> AlembicConfig:
    root = Path(os.environ.get("WA_ALEMBIC_DIR", _PROJECT_ROOT))
    config = AlembicConfig(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "alembic"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    if default_account_id is not None:  # else the migration's own (the seed's account 5)
        config.attributes["default_account_id"] = default_account_id
    return config


def upgrade(
    database_url: str, revision: str = "head", *, default_account_id: int | None = None
) -> None:
    """``default_account_id``: the account the shipped default templates are installed for
    (``WA_DEFAULT_ACCOUNT_ID``); it matters on the first upgrade only."""
    _prepare_sqlite_folder(database_url)
    command.upgrade(_alembic_config(database_url, default_account_id), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(_alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """Alembic's env runs its own event loop; from async code, run it in a thread."""
    await asyncio.to_thread(upgrade, database_url, revision)


async def downgrade_async(database_url: str, revision: str = "base") -> None:
    await asyncio.to_thread(downgrade, database_url, revision)


def _prepare_sqlite_folder(database_url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if database_url.startswith(prefix):
        path = database_url[len(prefix) :].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
