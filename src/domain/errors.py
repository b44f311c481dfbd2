"""Domain errors: plain exceptions that adapters raise and entrypoints map to HTTP or ack/nack."""

from __future__ import annotations

import re


class DomainError(Exception):
    """Base of every error the service itself defines."""


class InvalidPhoneNumber(DomainError):
    """A phone number that cannot be read as a real number."""


class TemplateMismatch(DomainError):
    """The values prepared for a template do not fit its definition (Meta would answer 132000)."""


class NotFound(DomainError):
    """A thing asked for by id does not exist (or belongs to another workspace)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind
        self.key = key


class Conflict(DomainError):
    """The request contradicts what is stored (a duplicate name, a template in use)."""


class InvalidFields(DomainError):
    """Input that cannot be saved; ``errors`` maps each field to what is wrong."""

    title = "Invalid input"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class InvalidSettings(InvalidFields):
    """Workspace settings that cannot be saved."""

    title = "Invalid settings"


class SendError(DomainError):
    """Sending a WhatsApp message did not succeed."""

    def __init__(self, code: int | None, title: str) -> None:
        super().__init__(f"({code}) {title}" if code is not None else title)
        self.code = code
        self.title = title


class RetryableSendError(SendError):
    """Meta refused for now (throughput, downtime); the same request may succeed later."""

    def __init__(self, code: int | None, title: str, retry_after: float | None = None) -> None:
        super().__init__(code, title)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Meta refused this message for good (bad number, template problem, policy)."""


class SendOutcomeUnknown(SendError):
    """The request may or may not have reached Meta (timeout, dropped connection).

    Never re-send at once: the status webhook, matched by our callback id, tells the truth;
    only a send that stays silent is sent once more, later (docs/sending.md).
    """


class UpstreamUnavailable(DomainError):
    """A collaborator (integration engine, ESB, database) cannot be reached right now."""


class UpstreamRejected(DomainError):
    """A collaborator answered that the request itself is wrong; retrying will not help."""


class MalformedPayload(DomainError):
    """Bytes from a collaborator that cannot be read as what they claim to be."""


class UnreadableRecord(DomainError):
    """A stored row that holds what none of our writes leave (a zero date another writer left:
    docs/outages.md, "A row with a zero date"). Raised for that row alone, so that a pass or a
    batch meets it as that item's trouble and goes on with the others."""


class InvalidSignature(DomainError):
    """A webhook whose signature is missing or wrong: not from Meta, never stored."""


class NotConfigured(DomainError):
    """Something needed for this request is not configured (a secret, a URL)."""


class Unauthenticated(DomainError):
    """No valid credentials: the bearer token is missing, malformed, badly signed or expired."""


class Forbidden(DomainError):
    """The caller is known but may not do this (another workspace, a read-only template)."""


class InvalidTemplate(InvalidFields):
    """A template definition that cannot be saved."""

    title = "Invalid template"


class TemplateNotVerified(DomainError):
    """Meta's catalogue does not confirm a template; ``check`` names the check that failed."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(detail)
        self.check = check
        self.detail = detail


_LONG_NUMBER = re.compile(r"\d{5,}(\d{4})")


def describe(exc: BaseException) -> str:
    """One line for the record and the log: the error's first line (a database driver adds
    the statement and its parameters after it), long numbers masked (they may be phones)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return _LONG_NUMBER.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(1), text)[:500]
