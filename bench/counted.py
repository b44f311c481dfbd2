"""``fdr-whatsapp`` with its database round trips counted: ``python -m bench.counted OUT.json
serve --port 8000``.

The bench's own wrapper (like ``bench.profiled``), so the service needs no counting hook:
SQLAlchemy's events count, in every engine of the process, the statements by verb, the
transactions (commits and rollbacks), the connections taken from the pool and the new ones;
wrappers of the MariaDB adapter count the round trips that are no statement (COMMIT,
ROLLBACK, the pool's pre-ping). ``SIGUSR1`` writes the
counts so far to ``OUT.json``: the bench reads them before and after a measured run, so
start-up and shutdown are left out. The listeners cost a few microseconds per statement.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

from composition.cli import main as cli_main

COUNTS: Counter[str] = Counter()
#: ``BENCH_COUNT_SQL=N``: each statement counted by its first N characters too.
_BY_TEXT = int(os.environ.get("BENCH_COUNT_SQL", "0"))


def _statement(
    _conn: Connection,
    _cursor: Any,
    statement: str,
    _parameters: Any,
    _context: Any,
    executemany: bool,
) -> None:
    verb = statement.lstrip().split(None, 1)[0].lower() if statement.strip() else "?"
    COUNTS[f"statement {verb}"] += 1
    COUNTS["statements"] += 1
    if _BY_TEXT:
        COUNTS["sql " + " ".join(statement.split())[:_BY_TEXT]] += 1


def _wrap(cls: Any, name: str, key: str) -> None:
    """Counts the calls of a DBAPI adapter's method: each one a round trip to MariaDB."""
    inner = getattr(cls, name)

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS[key] += 1
        return inner(self, *args, **kwargs)

    setattr(cls, name, counted)


def _listen() -> None:
    from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
    from sqlalchemy.dialects.mysql.asyncmy import AsyncAdapt_asyncmy_connection

    _wrap(AsyncAdapt_dbapi_connection, "rollback", "round trip rollback")
    _wrap(AsyncAdapt_dbapi_connection, "commit", "round trip commit")
    _wrap(AsyncAdapt_asyncmy_connection, "ping", "round trip ping")
    event.listen(Engine, "before_cursor_execute", _statement)
    for name in ("begin", "commit", "rollback"):
        event.listen(Engine, name, lambda _conn, name=name: COUNTS.update([name]))
    event.listen(Pool, "checkout", lambda *_: COUNTS.update(["checkouts"]))
    event.listen(Pool, "connect", lambda *_: COUNTS.update(["connects"]))


def load(path: Path) -> dict[str, int]:
    """The counts a ``SIGUSR1`` wrote (empty when none was written yet)."""
    try:
        return {str(k): int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return {}


def main() -> int:
    out, *argv = sys.argv[1:]
    target = Path(out)

    def dump(*_: Any) -> None:
        COUNTS["dumps"] += 1  # the bench waits for this to grow
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(dict(COUNTS)))
        partial.replace(target)

    signal.signal(signal.SIGUSR1, dump)
    _listen()
    try:
        return cli_main(argv)
    finally:
        dump()


if __name__ == "__main__":
    raise SystemExit(main())
