"""The ticks of a WhatsApp message: they only move forward, and ``failed`` is the end."""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    PENDING = "pending"  # recorded, the send is in flight
    RETRYING = "retrying"  # Meta refused for now: certainly not sent, safe to send again
    UNKNOWN = "unknown"  # the send timed out: Meta may or may not have it
    ACCEPTED = "accepted"  # Meta answered 200 with a wamid
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_terminal(self) -> bool:
        return self is MessageStatus.FAILED

    def advance(self, new: MessageStatus) -> MessageStatus:
        """The status after ``new`` arrives: never backwards; ``failed`` always wins.

        ``failed`` after ``delivered``/``read`` is kept too: Meta only sends it when the message
        is truly lost, and the workspace must see it.
        """
        if self.is_terminal:
            return self
        if new is MessageStatus.FAILED:
            return new
        return new if new.rank > self.rank else self


_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.RETRYING: 0,
    MessageStatus.UNKNOWN: 0,
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.FAILED: 5,
}

#: Statuses Meta reports in webhooks, mapped to ours (``played`` is for voice notes: read).
WEBHOOK_STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}
