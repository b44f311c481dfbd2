"""Who is calling the portal API: a bearer token checked into the workspaces it may manage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """The token's subject and the workspaces (account ids) it names; ``operator`` is ``*``."""

    subject: str
    accounts: frozenset[int] = frozenset()
    operator: bool = False

    def may_manage(self, account_id: int) -> bool:
        return self.operator or account_id in self.accounts


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Caller:
        """The caller named by ``token`` ("" when none was sent).

        Raises ``Unauthenticated`` for a missing, malformed, badly signed or expired token,
        ``NotConfigured`` when no way to check tokens is configured, ``UpstreamUnavailable``
        when the signing keys cannot be fetched.
        """


class PushAuthenticator(Protocol):
    """Who may push shipment events: Pub/Sub's push subscription, and nobody else."""

    @property
    def is_open(self) -> bool:
        """True when nothing is checked (no token and no audience configured)."""

    async def check(self, bearer: str, token: str | None) -> None:
        """Raises ``Unauthenticated`` unless the push carries what is configured: the shared
        ``token``, and/or Google's OIDC ``bearer`` token ("" when none) for the subscription's
        service account; ``UpstreamUnavailable`` when Google's keys cannot be fetched."""
