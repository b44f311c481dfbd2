"""The ticks of a WhatsApp message: they only move forward, and ``failed`` is the end."""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    QUEUED = "queued"  # recorded, waiting for a slot in the sender's limiter: not sent yet
    PENDING = "pending"  # the request has left for Meta: in flight
    RETRYING = "retrying"  # Meta refused for now: certainly not sent, safe to send again
    UNKNOWN = "unknown"  # the send timed out: Meta may or may not have it
    ACCEPTED = "accepted"  # Meta answered 200 with a wamid
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return RANK[self]

    def advance(self, new: MessageStatus) -> MessageStatus:
        """The status after ``new`` arrives: never backwards; ``failed`` always wins.

        ``failed`` after ``delivered``/``read`` is kept too: Meta only sends it when the message
        is truly lost, and the workspace must see it.
        """
        if self is MessageStatus.FAILED:  # terminal
            return self
        if new is MessageStatus.FAILED:
            return new
        return new if RANK[new] > RANK[self] else self  # once per status of a pass

    def predecessors(self) -> frozenset[MessageStatus]:
        """The statuses a stored message may be in for this one to be written over it:
        the condition of every compare-and-set on the status (see docs/sending.md)."""
        return _PREDECESSORS[self]


#: Each status's rank, a dict for hot paths (a status pass sorts and advances by it per status).
RANK = {
    MessageStatus.QUEUED: 0,
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

#: The send's own moves between the statuses of rank 0, which ``advance`` never makes.
_SEND_MOVES = {
    MessageStatus.PENDING: {MessageStatus.QUEUED, MessageStatus.RETRYING},  # the request leaves
    MessageStatus.RETRYING: {MessageStatus.PENDING},  # Meta refused for now
    MessageStatus.UNKNOWN: {MessageStatus.PENDING},  # no answer in time
    MessageStatus.QUEUED: {MessageStatus.UNKNOWN},  # an unknown send is taken to be sent again
}
_PREDECESSORS = {
    new: frozenset(old for old in MessageStatus if old is not new and old.advance(new) is new)
    | _SEND_MOVES.get(new, set())
    for new in MessageStatus
}
