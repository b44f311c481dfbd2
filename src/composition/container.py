"""The container: every provider of the service, the adapters chosen by the configuration.

Which adapter serves a port is declared in its provider with ``when=`` (``activation``): Redis
or in-process cache and limiter, Meta or its sandbox, the integration engine and ESB over HTTP
or in memory, Pub/Sub or an in-process event source and activity log, portal tokens checked or
the portal closed.
"""

from __future__ import annotations

from dishka import AsyncContainer, Provider, make_async_container

from composition.activation import ActivationProvider
from composition.providers.answers import AnswerProvider
from composition.providers.best_effort import BestEffortProvider
from composition.providers.cache import CacheProvider
from composition.providers.collaborators import CollaboratorsProvider
from composition.providers.core import CoreProvider
from composition.providers.db import DatabaseProvider
from composition.providers.meta import MetaProvider
from composition.providers.portal import PortalProvider
from composition.providers.services import ServicesProvider
from composition.providers.use_cases import UseCaseProvider
from infrastructure.config import Config


def build_container(config: Config, *overrides: Provider) -> AsyncContainer:
    """Every provider of the service; ``overrides`` (tests) replace what they provide."""
    return make_async_container(
        ActivationProvider(),
        CoreProvider(),
        DatabaseProvider(),
        CacheProvider(),
        MetaProvider(),
        CollaboratorsProvider(),
        ServicesProvider(),
        UseCaseProvider(),
        AnswerProvider(),
        PortalProvider(),
        *overrides,
        BestEffortProvider(),  # last: it wraps whatever publisher an override chose
        context={Config: config},
    )
