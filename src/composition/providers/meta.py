"""WhatsApp: the sandbox (it records what would be sent), or Meta's Cloud API when the
configuration holds a real sender (``META``); Meta's webhook format either way."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from dishka import AnyOf, Provider, Scope, provide

from application.ports.webhooks import WebhookDecoder, WebhookVerifier
from application.ports.whatsapp import TemplateCatalog, TemplateRegistry, WhatsAppGateway
from composition.activation import META
from infrastructure.config import Config
from infrastructure.meta.gateway import (
    CachedTemplateCatalog,
    MetaCloudWhatsApp,
    MetaTemplateCatalog,
)
from infrastructure.meta.registry import MetaTemplateRegistry, SandboxTemplateRegistry
from infrastructure.meta.sandbox import SandboxTemplateCatalog, SandboxWhatsApp
from infrastructure.meta.transport import Http11Transport
from infrastructure.meta.webhook import MetaWebhookFormat


class MetaProvider(Provider):
    scope = Scope.APP

    webhook_format = provide(MetaWebhookFormat, provides=AnyOf[WebhookVerifier, WebhookDecoder])

    @provide
    def gateway(self) -> WhatsAppGateway:
        return SandboxWhatsApp()

    @provide
    def catalog(self) -> TemplateCatalog:
        return SandboxTemplateCatalog()

    @provide
    def registry(self) -> TemplateRegistry:
        return SandboxTemplateRegistry()

    @provide(when=META)
    async def meta_transport(self) -> AsyncIterator[Http11Transport]:
        # Connections on asyncio, requests framed by the transport itself: httpcore's
        # per-request walk of its pool and anyio's cancel scopes were most of a send's CPU
        # (docs/meta.md#the-http-client).
        transport = Http11Transport(max_connections=192, keepalive_expiry=5.0)
        yield transport
        await transport.aclose()

    @provide(when=META)
    async def meta_client(
        self, config: Config, transport: Http11Transport
    ) -> AsyncIterator[httpx.AsyncClient]:
        client = httpx.AsyncClient(timeout=_timeout(config), transport=transport)
        yield client
        await client.aclose()

    @provide(when=META)
    def meta_gateway(self, config: Config, transport: Http11Transport) -> WhatsAppGateway:
        return MetaCloudWhatsApp(
            transport,
            timeout=_timeout(config),
            graph_url=config.meta_graph_url,
            api_version=config.meta_api_version,
        )

    @provide(when=META)
    def meta_catalog(self, config: Config, client: httpx.AsyncClient) -> TemplateCatalog:
        return CachedTemplateCatalog(
            MetaTemplateCatalog(
                client, graph_url=config.meta_graph_url, api_version=config.meta_api_version
            )
        )

    @provide(when=META)
    def meta_registry(self, config: Config, client: httpx.AsyncClient) -> TemplateRegistry:
        return MetaTemplateRegistry(
            client, graph_url=config.meta_graph_url, api_version=config.meta_api_version
        )


def _timeout(config: Config) -> httpx.Timeout:
    """``WA_META_TIMEOUT_SECONDS`` to write, read and wait for a free connection; 3 s to
    connect."""
    return httpx.Timeout(config.meta_timeout_seconds, connect=3.0)
