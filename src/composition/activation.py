"""Which adapters the configuration plugs in: one dishka marker per optional outside system.

A provider lists an adapter's local stand-in without a condition and the real one after it with
``when=<marker>``; dishka keeps the last active factory. The activator reads only the
configuration (the container's context), so dishka decides once, when the container is built,
and a container never holds a factory for an outside system the configuration does not name.
"""

from __future__ import annotations

from dishka import Marker, Provider, activate

from infrastructure.config import Config


class Configured(Marker):
    """Active when the configuration connects the outside system this marker names."""


#: ``WA_REDIS_URL``: the settings cache and the per-number limiter in Redis (else in-process).
REDIS = Configured("redis")
#: All four ``WA_META_*`` credentials and no ``WA_META_SANDBOX``: Meta's Cloud API (else the
#: sandbox).
META = Configured("meta")
#: ``WA_INTEGRATION_ENGINE_URL``: sender connections from the engine (else the default only).
INTEGRATION_ENGINE = Configured("integration_engine")
#: ``WA_ESB_URL``: NDR actions sent to the ESB (else recorded only).
ESB = Configured("esb")
#: ``WA_PUBSUB_PROJECT`` and ``WA_PUBSUB_FDR_SUBSCRIPTION``: events pulled from Pub/Sub (else
#: the in-process source the push endpoint and the demo feed).
PUBSUB_EVENTS = Configured("pubsub_events")
#: ``WA_PUBSUB_PROJECT`` and ``WA_PUBSUB_OUTCOME_SUBSCRIPTION``: the second subscription.
PUBSUB_OUTCOMES = Configured("pubsub_outcomes")
#: ``WA_PUBSUB_PROJECT`` and ``WA_PUBSUB_ACTIVITY_TOPIC``: activity events published (else
#: logged).
PUBSUB_ACTIVITY = Configured("pubsub_activity")
#: ``WA_AUTH_JWT_SECRET`` or ``WA_AUTH_JWKS_URL``: portal tokens checked (else the portal is
#: closed, 503).
PORTAL_AUTH = Configured("portal_auth")


def connected(config: Config) -> frozenset[Configured]:
    """The outside systems ``config`` connects (the markers that are active)."""
    project = config.pubsub_project
    on = {
        REDIS: config.redis_url is not None,
        META: not config.meta_sandbox,
        INTEGRATION_ENGINE: config.integration_engine_url is not None,
        ESB: config.esb_url is not None,
        PUBSUB_EVENTS: bool(project and config.pubsub_fdr_subscription),
        PUBSUB_OUTCOMES: bool(project and config.pubsub_outcome_subscription),
        PUBSUB_ACTIVITY: bool(project and config.pubsub_activity_topic),
        PORTAL_AUTH: bool(config.auth_jwt_secret or config.auth_jwks_url),
    }
    return frozenset(marker for marker, active in on.items() if active)


class ActivationProvider(Provider):
    """The one activator of every ``Configured`` marker."""

    @activate(Configured)
    def configured(self, marker: Configured, config: Config) -> bool:
        return marker in connected(config)
