"""The connection directory: the same cases on the in-memory twin and on HTTP + the fake engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from application.ports.collaborators import ConnectionDirectory
from application.services import SenderResolver
from domain.errors import NotFound, UpstreamRejected, UpstreamUnavailable
from domain.settings import ConnectionSummary, SenderConnection
from infrastructure.integration_engine.directory import (
    CachedConnectionDirectory,
    HttpConnectionDirectory,
)
from infrastructure.local.collaborators import InMemoryConnectionDirectory
from tests.conftest import new_id
from tests.fakes.integration_engine import FakeIntegrationEngine
from tests.support.doubles import DEFAULT_SENDER

TOKEN = "EAAGsecret-access-token-0042"
APP_SECRET = "9f3c-app-secret-0042"


def sender(account_id: int, name: str = "Scitron WhatsApp", **overrides: str) -> SenderConnection:
    values = {
        "phone_number_id": f"10654{new_id()}",
        "waba_id": f"10229{new_id()}",
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "display_phone_number": "+91 98765 43210",
        **overrides,
    }
    return SenderConnection(
        connection_id=new_id(),
        account_id=account_id,
        name=name,
        phone_number_id=values["phone_number_id"],
        waba_id=values["waba_id"],
        access_token=values["access_token"],
        app_secret=values["app_secret"],
        display_phone_number=values["display_phone_number"],
    )


@dataclass
class Upstream:
    directory: ConnectionDirectory
    install: Callable[..., None]  # (sender, *, app="whatsapp", active=True)
    calls: Callable[[], int]  # requests the upstream has answered so far


class Sleeps:
    """Backoff waits, recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest_asyncio.fixture(loop_scope="session")
async def engine() -> AsyncIterator[FakeIntegrationEngine]:
    fake = FakeIntegrationEngine()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def http_directory(
    engine: FakeIntegrationEngine,
    client: httpx.AsyncClient,
    sleeps: Sleeps,
    *,
    timeout: float = 30.0,  # generous: a busy machine must not make an answer a timeout
    attempts: int = 3,
) -> HttpConnectionDirectory:
    return HttpConnectionDirectory(
        client, engine.url, timeout=timeout, attempts=attempts, sleep=sleeps
    )


@pytest.fixture(params=["memory", "http"])
def upstream(request: pytest.FixtureRequest) -> Upstream:
    if request.param == "memory":
        memory = InMemoryConnectionDirectory()

        def install_memory(
            s: SenderConnection, *, app: str = "whatsapp", active: bool = True
        ) -> None:
            memory.install(s, app=app, active=active)

        return Upstream(memory, install_memory, lambda: memory.calls)

    engine: FakeIntegrationEngine = request.getfixturevalue("engine")
    client: httpx.AsyncClient = request.getfixturevalue("http_client")

    def install_http(s: SenderConnection, *, app: str = "whatsapp", active: bool = True) -> None:
        engine.install(s, app=app, status="active" if active else "disabled")

    directory = http_directory(engine, client, request.getfixturevalue("sleeps"))
    return Upstream(directory, install_http, lambda: len(engine.requests))


# --- every adapter -------------------------------------------------------------------------


async def test_lists_the_active_whatsapp_connections_of_the_account(upstream: Upstream) -> None:
    account, other_account = new_id(), new_id()
    first, second = sender(account, "Brand WA"), sender(account, "Brand WA 2")
    upstream.install(first)
    upstream.install(second)
    upstream.install(sender(account, "Disabled"), active=False)
    upstream.install(sender(account, "Shopify"), app="shopify")
    upstream.install(sender(other_account, "Someone else"))

    listed = await upstream.directory.connections(account)

    assert sorted(listed, key=lambda c: c.connection_id) == [
        ConnectionSummary(
            connection_id=s.connection_id,
            account_id=account,
            name=s.name,
            app="whatsapp",
            is_default=False,
            display_phone_number="+91 98765 43210",
        )
        for s in (first, second)
    ]


async def test_an_account_without_connections_lists_none(upstream: Upstream) -> None:
    assert await upstream.directory.connections(new_id()) == []


async def test_credentials_come_back_whole(upstream: Upstream) -> None:
    installed = sender(new_id())
    upstream.install(installed)

    found = await upstream.directory.sender(installed.connection_id)

    assert found == installed
    assert found.access_token == TOKEN
    assert found.app_secret == APP_SECRET


async def test_an_unknown_connection_is_not_found(upstream: Upstream) -> None:
    unknown = new_id()
    with pytest.raises(NotFound) as raised:
        await upstream.directory.sender(unknown)
    assert (raised.value.kind, raised.value.key) == ("connection", unknown)


@pytest.mark.parametrize(("app", "active"), [("whatsapp", False), ("shopify", True)])
async def test_a_connection_that_cannot_send_is_not_found(
    upstream: Upstream, app: str, active: bool
) -> None:
    installed = sender(new_id())
    upstream.install(installed, app=app, active=active)
    with pytest.raises(NotFound):
        await upstream.directory.sender(installed.connection_id)


async def test_secrets_never_show_in_reprs(upstream: Upstream) -> None:
    installed = sender(new_id())
    upstream.install(installed)
    found = await upstream.directory.sender(installed.connection_id)
    text = repr(found) + str(found) + repr([found])
    assert TOKEN not in text
    assert APP_SECRET not in text


async def test_the_cache_asks_once_within_its_ttl(upstream: Upstream) -> None:
    now = [1000.0]
    cached = CachedConnectionDirectory(upstream.directory, ttl=60, monotonic=lambda: now[0])
    installed = sender(new_id())
    upstream.install(installed)
    before = upstream.calls()

    assert await cached.sender(installed.connection_id) == installed
    now[0] += 59
    assert await cached.sender(installed.connection_id) == installed
    assert upstream.calls() - before == 1

    listed = await cached.connections(installed.account_id)
    assert await cached.connections(installed.account_id) == listed
    assert upstream.calls() - before == 2

    now[0] += 1  # the sender entry is 60 s old: expired
    await cached.sender(installed.connection_id)
    assert upstream.calls() - before == 3

    cached.invalidate()
    await cached.connections(installed.account_id)
    await cached.sender(installed.connection_id)
    assert upstream.calls() - before == 5


async def test_the_cache_keeps_no_failures(upstream: Upstream) -> None:
    cached = CachedConnectionDirectory(upstream.directory)
    unknown = new_id()
    before = upstream.calls()
    for _ in range(2):
        with pytest.raises(NotFound):
            await cached.sender(unknown)
    assert upstream.calls() - before == 2


# --- HTTP only: what can go wrong on the wire ----------------------------------------------


async def test_the_wire_format(
    engine: FakeIntegrationEngine, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    directory = http_directory(engine, http_client, sleeps)
    installed = sender(new_id())
    engine.install(installed)

    await directory.connections(installed.account_id)
    await directory.sender(installed.connection_id)

    listing, credentials = engine.requests
    assert (listing.method, listing.path) == ("GET", "/connection/start")
    assert listing.query == {"accountId": str(installed.account_id), "app": "whatsapp"}
    assert (credentials.method, credentials.path) == (
        "GET",
        f"/connection/{installed.connection_id}/credentials",
    )


async def test_a_server_error_is_retried(
    engine: FakeIntegrationEngine, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    directory = http_directory(engine, http_client, sleeps)
    installed = sender(new_id())
    engine.install(installed)
    engine.fail_next(503)

    assert await directory.sender(installed.connection_id) == installed
    assert len(engine.requests) == 2
    assert len(sleeps.seconds) == 1


async def test_a_timeout_and_a_dropped_connection_are_retried(
    engine: FakeIntegrationEngine, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    # The client gives up after 0.3 s; a spare attempt covers an ordinary answer that a busy
    # machine makes late.
    directory = http_directory(engine, http_client, sleeps, timeout=0.3, attempts=5)
    installed = sender(new_id())
    engine.install(installed)
    engine.delay_next(5.0)
    engine.drop_next()

    assert await directory.sender(installed.connection_id) == installed
    assert len(engine.requests) >= 3


async def test_always_failing_gives_unavailable_after_the_bound(
    engine: FakeIntegrationEngine, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    directory = http_directory(engine, http_client, sleeps)
    engine.fail_next(500, times=10)

    with pytest.raises(UpstreamUnavailable, match="after 3 attempts"):
        await directory.connections(new_id())
    assert len(engine.requests) == 3
    assert len(sleeps.seconds) == 2
    assert all(0 <= s <= 2.0 for s in sleeps.seconds)


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_a_client_error_is_rejected_without_retry(
    engine: FakeIntegrationEngine, http_client: httpx.AsyncClient, sleeps: Sleeps, status: int
) -> None:
    directory = http_directory(engine, http_client, sleeps)
    engine.fail_next(status)
    with pytest.raises(UpstreamRejected, match=f"HTTP {status}"):
        await directory.sender(new_id())
    assert len(engine.requests) == 1
    assert sleeps.seconds == []


async def test_incomplete_credentials_are_rejected_naming_fields_not_values(
    engine: FakeIntegrationEngine, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    directory = http_directory(engine, http_client, sleeps)
    installed = sender(new_id(), waba_id="")
    engine.install(installed)
    with pytest.raises(UpstreamRejected, match="wabaId") as raised:
        await directory.sender(installed.connection_id)
    assert TOKEN not in str(raised.value)
    assert APP_SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("access_token", f"{TOKEN}\r\nX-Injected: yes", "accessToken"),
        ("access_token", f"{TOKEN}\x00", "accessToken"),
        ("phone_number_id", "1065\n4035", "phoneNumberId"),
        ("waba_id", "1022/../me", "wabaId"),
    ],
    ids=["CRLF in the token", "NUL in the token", "LF in the id", "a path in the id"],
)
async def test_credentials_that_would_break_a_request_are_rejected_naming_fields_not_values(
    engine: FakeIntegrationEngine,
    http_client: httpx.AsyncClient,
    sleeps: Sleeps,
    field: str,
    value: str,
    named: str,
) -> None:
    # Sent in the Authorization header and the URL's path: the engine's answer is input. Not
    # sent with; the app secret still checks the connection's webhooks.
    directory = http_directory(engine, http_client, sleeps)
    installed = sender(new_id(), **{field: value})
    engine.install(installed)
    senders = SenderResolver(directory, DEFAULT_SENDER)
    with pytest.raises(UpstreamRejected, match=f"unusable credentials: {named}") as raised:
        await senders.by_connection_id(installed.connection_id)
    # What each must be, true of the token too ('/' is fine in a header).
    assert "each must be printable ASCII without spaces, the ids without '/'" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert value not in str(raised.value)
    assert await senders.app_secret(installed.connection_id) == APP_SECRET


async def test_credentials_pasted_with_a_trailing_newline_are_used_as_the_configuration_is(
    engine: FakeIntegrationEngine, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    # WA_META_ACCESS_TOKEN is read stripped; the same token pasted into the engine with the
    # newline of a copied line failed every send of that workspace.
    directory = http_directory(engine, http_client, sleeps)
    installed = sender(new_id(), access_token=f"{TOKEN}\n", phone_number_id=" 1065400042 ")
    engine.install(installed)
    found = await SenderResolver(directory, DEFAULT_SENDER).by_connection_id(
        installed.connection_id
    )
    assert (found.access_token, found.phone_number_id) == (TOKEN, "1065400042")


async def test_an_unreadable_answer_is_unavailable(
    engine: FakeIntegrationEngine, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    directory = http_directory(engine, http_client, sleeps)
    installed = sender(new_id())
    engine.install(installed)
    engine.fail_next(200)  # a 200 carrying an error body, not credentials
    with pytest.raises(UpstreamUnavailable, match="unreadable"):
        await directory.sender(installed.connection_id)
