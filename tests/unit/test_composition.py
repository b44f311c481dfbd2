"""The configuration picks the adapters: a local stand-in for every outside system it does not
name, the real one for every system it does (composition/activation.py)."""

from __future__ import annotations

import dataclasses

import pytest
from dishka import Provider, Scope
from dishka.exceptions import NoActiveFactoryError

from application.ports.auth import TokenVerifier
from application.ports.cache import SettingsCache
from application.ports.collaborators import (
    ConnectionDirectory,
    EventSource,
    NdrActions,
    OutcomeEventSource,
)
from application.ports.health import DependencyProbe
from application.ports.whatsapp import TemplateCatalog, TemplateRegistry, WhatsAppGateway
from composition.container import build_container
from domain.settings import SenderConnection
from infrastructure.auth.jwt import JwtTokenVerifier, UnconfiguredTokenVerifier
from infrastructure.cache.memory import InProcessSettingsCache
from infrastructure.cache.redis import RedisSettingsCache
from infrastructure.config import Config
from infrastructure.esb.ndr import HttpNdrActions
from infrastructure.integration_engine.directory import CachedConnectionDirectory
from infrastructure.local.collaborators import InMemoryConnectionDirectory, InMemoryNdrActions
from infrastructure.local.events import InMemoryEventSource
from infrastructure.meta.gateway import CachedTemplateCatalog, MetaCloudWhatsApp
from infrastructure.meta.registry import MetaTemplateRegistry, SandboxTemplateRegistry
from infrastructure.meta.sandbox import SandboxTemplateCatalog, SandboxWhatsApp
from infrastructure.probes import RedisProbe
from infrastructure.pubsub.source import PubSubEventSource

EVERYTHING = dataclasses.replace(
    Config(),
    redis_url="redis://127.0.0.1:1",
    meta_sandbox=False,
    meta_app_secret="s" * 32,
    meta_phone_number_id="1055",
    meta_waba_id="2066",
    meta_access_token="token",
    integration_engine_url="http://127.0.0.1:1",
    esb_url="http://127.0.0.1:1",
    pubsub_project="project",
    pubsub_fdr_subscription="fdr",
    pubsub_outcome_subscription="outcomes",
    pubsub_emulator_host="127.0.0.1:1",
    auth_jwt_secret="j" * 40,
)

STAND_INS: dict[object, type] = {
    SettingsCache: InProcessSettingsCache,
    WhatsAppGateway: SandboxWhatsApp,
    TemplateCatalog: SandboxTemplateCatalog,
    TemplateRegistry: SandboxTemplateRegistry,
    ConnectionDirectory: InMemoryConnectionDirectory,
    NdrActions: InMemoryNdrActions,
    EventSource: InMemoryEventSource,
    TokenVerifier: UnconfiguredTokenVerifier,
}
REAL: dict[object, type] = {
    SettingsCache: RedisSettingsCache,
    WhatsAppGateway: MetaCloudWhatsApp,
    TemplateCatalog: CachedTemplateCatalog,
    TemplateRegistry: MetaTemplateRegistry,
    ConnectionDirectory: CachedConnectionDirectory,
    NdrActions: HttpNdrActions,
    EventSource: PubSubEventSource,
    OutcomeEventSource: PubSubEventSource,
    TokenVerifier: JwtTokenVerifier,
}


@pytest.mark.parametrize(
    ("config", "expected"), [(Config(), STAND_INS), (EVERYTHING, REAL)], ids=["none", "all"]
)
async def test_each_port_gets_the_adapter_the_configuration_names(
    config: Config, expected: dict[object, type]
) -> None:
    container = build_container(config)
    try:
        for port, adapter in expected.items():
            assert type(await container.get(port)) is adapter, port
    finally:
        await container.close()


async def test_redis_is_probed_for_readiness_only_when_configured() -> None:
    for config, with_redis in ((Config(), False), (EVERYTHING, True)):
        container = build_container(config)
        try:
            probes = await container.get(list[DependencyProbe])
            assert any(isinstance(p, RedisProbe) for p in probes) is with_redis
        finally:
            await container.close()


async def test_without_an_outcome_subscription_there_is_no_second_source() -> None:
    container = build_container(Config())
    try:
        with pytest.raises(NoActiveFactoryError):
            await container.get(OutcomeEventSource)
    finally:
        await container.close()


async def test_the_default_sender_is_the_sandbox_s_until_meta_is_configured() -> None:
    for config, name in ((Config(), "Eshopbox (sandbox)"), (EVERYTHING, "Eshopbox")):
        container = build_container(config)
        try:
            assert (await container.get(SenderConnection)).name == name
        finally:
            await container.close()


async def test_an_override_wins_over_the_configured_adapter() -> None:
    provider = Provider(scope=Scope.APP)
    provider.provide(SandboxWhatsApp, provides=WhatsAppGateway)
    container = build_container(EVERYTHING, provider)
    try:
        assert type(await container.get(WhatsAppGateway)) is SandboxWhatsApp
    finally:
        await container.close()
