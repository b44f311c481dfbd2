"""The service on either URL the config takes for MariaDB: ``mysql+asyncmy://`` (SQLAlchemy's
``mysql`` dialect) and ``mariadb+asyncmy://`` (its ``mariadb`` dialect) write the same SQL
(docs/patterns.md, "MariaDB under either name")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.messages import DeliveryReport
from domain.status import MessageStatus
from infrastructure.config import Config
from infrastructure.db.bulk import binary_protocol
from infrastructure.db.engine import create_engine
from infrastructure.db.repositories import messages
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import new_id

SCHEMES = ["mysql+asyncmy", "mariadb+asyncmy"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_statements_written_for_mariadb_carry_their_prefixes_under_either_name(
    scheme: str,
) -> None:
    url = f"{scheme}://root@127.0.0.1:3306/db"
    assert Config(database_url=url).database_url == url  # the config takes both
    dialect = make_url(url).get_dialect()()
    assert dialect.name == scheme.split("+")[0]
    insert = str(messages._INSERT_IGNORING_DUPLICATES.compile(dialect=dialect))
    assert insert.startswith("INSERT IGNORE INTO wa_dlr_messages")
    read = str(messages._UNLINKED_WITH_MESSAGE.compile(dialect=dialect))
    assert read.startswith("SELECT STRAIGHT_JOIN wa_dlr_messages.message_id")


def test_sqlite_gets_its_own_prefix_and_no_mariadb_one() -> None:
    dialect = make_url("sqlite+aiosqlite://").get_dialect()()
    insert = str(messages._INSERT_IGNORING_DUPLICATES.compile(dialect=dialect))
    assert insert.startswith("INSERT OR IGNORE INTO wa_dlr_messages")
    assert "STRAIGHT_JOIN" not in str(messages._UNLINKED_WITH_MESSAGE.compile(dialect=dialect))


@pytest_asyncio.fixture(loop_scope="session")
async def engine(mysql_url: str, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    url = make_url(mysql_url).set(drivername=request.param)
    engine = create_engine(url.render_as_string(hide_password=False), pool_size=1)
    yield engine
    await engine.dispose()


def _report(wamid: str) -> DeliveryReport:
    now = datetime.now(UTC)
    return DeliveryReport(
        wa_outgoing_message_id=None,
        message_id=wamid,
        status=MessageStatus.DELIVERED,
        external_timestamp=now,
        created_at=now,
    )


@pytest.mark.mysql
@pytest.mark.parametrize("engine", SCHEMES, indirect=True)
async def test_a_status_stored_twice_is_kept_once_and_sent_in_binary_under_either_name(
    engine: AsyncEngine,
) -> None:
    wamid = f"wamid.DIALECT{new_id()}"
    async with engine.connect() as conn, binary_protocol(conn) as binary:
        assert binary  # the bulk insert and prepared statements, as on mysql+asyncmy://
    for _ in range(2):
        async with SqlUnitOfWork(engine) as uow:
            await uow.delivery_reports.add_many([_report(wamid)])
            await uow.commit()
    async with SqlUnitOfWork(engine) as uow:
        assert len(await uow.delivery_reports.for_message(wamid)) == 1
