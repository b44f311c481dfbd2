"""The one in-process TTL cache (cachetools underneath) and the caches built on it."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from application.services import ReasonBook
from application.ttl_cache import TtlCache
from domain.settings import SenderConnection
from infrastructure.integration_engine.directory import CachedConnectionDirectory
from infrastructure.local.collaborators import InMemoryConnectionDirectory

SENDER = SenderConnection(
    connection_id=41,
    account_id=379,
    phone_number_id="106540352242922",
    waba_id="102290129340398",
    access_token="old-token",
    app_secret="secret",
    name="Scitron WhatsApp",
)


def test_an_entry_lives_ttl_seconds() -> None:
    now = [100.0]
    cache: TtlCache[str, int] = TtlCache(10, monotonic=lambda: now[0])
    cache.put("a", 1)
    now[0] = 109.9
    assert cache.get("a") == 1
    now[0] = 110.0
    assert cache.get("a") is None


def test_the_cache_holds_at_most_maxsize_entries_dropping_the_least_recently_used() -> None:
    cache: TtlCache[int, int] = TtlCache(60, maxsize=2)
    cache.put(1, 1)
    cache.put(2, 2)
    assert cache.get(1) == 1  # 2 is now the least recently used
    cache.put(3, 3)
    assert (cache.get(1), cache.get(2), cache.get(3)) == (1, None, 3)


def test_an_answer_read_before_an_invalidation_is_not_kept() -> None:
    cache: TtlCache[str, str] = TtlCache(60)
    before = cache.generation("a")
    cache.invalidate("a")
    assert cache.put("a", "stale", before) is False
    assert cache.get("a") is None
    assert cache.put("a", "fresh", cache.generation("a")) is True
    assert cache.get("a") == "fresh"


def test_clear_refuses_every_answer_read_before_it() -> None:
    cache: TtlCache[str, str] = TtlCache(60)
    before_a, before_b = cache.generation("a"), cache.generation("b")
    cache.invalidate("b")
    cache.clear()
    assert cache.put("a", "stale", before_a) is False
    assert cache.put("b", "stale", before_b) is False
    assert cache.put("b", "fresh", cache.generation("b")) is True


class _SlowDirectory(InMemoryConnectionDirectory):
    """Holds each lookup until ``release`` is set: an invalidation can land in between."""

    def __init__(self) -> None:
        super().__init__([SENDER])
        self.release = asyncio.Event()

    async def sender(self, connection_id: int) -> SenderConnection:
        found = await super().sender(connection_id)
        await self.release.wait()
        return found


async def test_credentials_rotated_during_a_lookup_are_asked_for_again() -> None:
    upstream = _SlowDirectory()
    cached = CachedConnectionDirectory(upstream)
    lookup = asyncio.create_task(cached.sender(SENDER.connection_id))
    await asyncio.sleep(0)  # the lookup has read the old token and waits
    rotated = dataclasses.replace(SENDER, access_token="new-token")
    upstream.install(rotated)
    cached.invalidate()  # e.g. Meta said the token is no longer valid
    upstream.release.set()
    assert (await lookup).access_token == "old-token"
    assert (await cached.sender(SENDER.connection_id)).access_token == "new-token"
    assert upstream.calls == 2


class _Rules:
    def __init__(self) -> None:
        self.reads = 0

    async def all(self) -> list[Any]:
        self.reads += 1
        return []


class _Uow:
    def __init__(self) -> None:
        self.reason_rules = _Rules()


async def test_the_reason_rules_are_read_again_after_their_ttl() -> None:
    now = [0.0]
    book = ReasonBook(ttl=30, monotonic=lambda: now[0])
    uow: Any = _Uow()
    await book.rules(uow)
    now[0] = 29.9
    await book.rules(uow)  # an empty rule list is remembered too
    assert uow.reason_rules.reads == 1
    now[0] = 30.0
    await book.rules(uow)
    assert uow.reason_rules.reads == 2
