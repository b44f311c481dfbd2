"""Running Alembic from the service: ``fdr-whatsapp migrate`` and the test fixtures; and the
schema check of ``serve``, ``worker`` and readiness, which does not import Alembic.

Importing Alembic takes about as long as the rest of ``serve``'s start-up (docs/deploy.md#start-up):
the check only needs the revision chain, read from the migration files' ``revision`` and
``down_revision`` lines. A test keeps that reading equal to Alembic's own.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:  # imported where a migration runs: the start-up check needs none of it
    from alembic.config import Config as AlembicConfig

#: What a process on a database that is not migrated tells its operator.
MIGRATE_HINT = "run fdr-whatsapp migrate"

_PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _root() -> Path:
    return Path(os.environ.get("WA_ALEMBIC_DIR", _PROJECT_ROOT))


def _alembic_config(database_url: str, default_account_id: int | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    root = _root()
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
    from alembic import command

    _prepare_sqlite_folder(database_url)
    command.upgrade(_alembic_config(database_url, default_account_id), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    from alembic import command

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


@functools.cache
def known_revisions() -> dict[str, tuple[str, ...]]:
    """Every migration this code ships, each with the revisions it follows (``down_revision``).

    Read from the files as Alembic would find them (``alembic/versions/*.py``), without
    importing Alembic or running the files.
    """
    chain: dict[str, tuple[str, ...]] = {}
    for path in sorted((_root() / "alembic" / "versions").glob("*.py")):
        values = _module_constants(path, ("revision", "down_revision"))
        if "revision" not in values:
            continue  # not a migration (Alembic skips it too)
        down = values.get("down_revision")
        if down is None:
            follows: tuple[str, ...] = ()
        elif isinstance(down, str):
            follows = (down,)
        else:  # a merge: a tuple (or list) of revisions
            assert isinstance(down, tuple | list)
            follows = tuple(str(d) for d in down)
        chain[str(values["revision"])] = follows
    return chain


def _module_constants(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """The literal values a module assigns to ``names`` at its top level."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_bytes(), str(path)).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names:
                found[target.id] = ast.literal_eval(value)
    return found


def expected_head() -> str:
    """The newest migration this code knows (the chain has one head)."""
    chain = known_revisions()
    followed = {down for downs in chain.values() for down in downs}
    heads = [revision for revision in chain if revision not in followed]
    if len(heads) != 1:  # pragma: no cover - a broken chain is caught by the migration tests
        raise RuntimeError(f"the migration chain has {len(heads)} heads")
    return heads[0]


def schema_problem(current: str | None) -> str | None:
    """Why a database at revision ``current`` cannot be used by this code, or None.

    A revision this code does not know is newer than it (a rolling deploy migrates first):
    that one is fine. Missing or older is not: the tables this code writes may not exist.
    """
    head = expected_head()
    if current == head:
        return None
    if current is None:
        return f"the database has no schema: {MIGRATE_HINT}"
    if current not in known_revisions():
        return None  # newer than this code
    return f"the database schema is at {current}, this code needs {head}: {MIGRATE_HINT}"


async def current_revision(conn: AsyncConnection) -> str | None:
    """The revision the database was migrated to; None when it never was."""
    try:
        async with conn.begin_nested():
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
    except ProgrammingError:
        return None  # MySQL: no such table
    except OperationalError as exc:
        if "no such table" in str(exc):  # SQLite
            return None
        raise
    return str(row[0]) if row is not None else None


async def schema_problem_at(database_url: str, wait_seconds: float = 2.0) -> str | None:
    """``schema_problem`` of the database at ``database_url``; None if it cannot be reached
    (a process starts anyway and waits for it: readiness says what is wrong meanwhile)."""
    from infrastructure.db.engine import create_engine

    engine = create_engine(database_url, pool_size=1, timeout=wait_seconds)
    try:
        async with engine.connect() as conn:
            current = await current_revision(conn)
    except (DBAPIError, OSError):
        return None
    finally:
        await engine.dispose()
    return schema_problem(current)
