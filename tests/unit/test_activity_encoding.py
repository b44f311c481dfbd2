"""The timeline's publish request: each event's JSON and attributes as when it goes alone,
whatever the other events of the request share with it (docs/webhooks.md, "The timeline's
publish")."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import msgspec

from domain.activity import ActivityEvent, ActivityKind, Outcome
from infrastructure.pubsub.activity import encode_activity, publish_request
from tests.support.factories import T0

INDIA = timezone(timedelta(hours=5, minutes=30))


def _event(n: int, **fields: object) -> ActivityEvent:
    values: dict[str, object] = {
        "account_id": 7 if n % 3 else None,
        "shipment_id": 1000 + n,
        "reason": "refused" if n % 2 else None,
        "outcome": Outcome.DELIVERED,
        "kind": ActivityKind.STATUS,
        "message_id": f"wamid.{n}",
        "conversation_id": n,
        "occurred_at": T0 + timedelta(seconds=n % 2),
    }
    values.update(fields)
    return ActivityEvent(**values)  # type: ignore[arg-type]


def test_events_sharing_instants_and_attributes_are_each_written_whole() -> None:
    events = [
        _event(0),
        _event(1),
        _event(2, outcome=Outcome.FAILED, error_code=131026, error_title='a "quoted" title'),
        _event(3, error_code=None, error_title="title only"),
        _event(4, detail="a detail", automatic=True),
        # The same instant as the first, in another zone: written with its own offset.
        _event(5, occurred_at=T0.astimezone(INDIA)),
        _event(6, occurred_at=T0.astimezone(UTC)),
    ]

    request = msgspec.json.decode(publish_request(events))

    sent = [base64.b64decode(m["data"]) for m in request["messages"]]
    assert sent == [encode_activity(e) for e in events]
    assert [json.loads(d)["occurred_at"][-6:] for d in sent[5:]] == ["+05:30", "+00:00"]
    assert json.loads(sent[2])["error"] == {"code": 131026, "title": 'a "quoted" title'}
    assert json.loads(sent[3])["error"] == {"code": None, "title": "title only"}
    assert json.loads(sent[0])["error"] is None
    assert [m["attributes"] for m in request["messages"][:3]] == [
        {"kind": "status", "outcome": "delivered", "account_id": ""},
        {"kind": "status", "outcome": "delivered", "account_id": "7"},
        {"kind": "status", "outcome": "failed", "account_id": "7"},
    ]


def test_the_two_instants_of_a_local_repeated_hour_keep_their_own_offsets() -> None:
    """01:30 in London on the night summer time ends, ``fold`` 0 then 1: equal as local
    times, an hour apart; each event is written with its own offset."""
    first = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/London"))
    events = [_event(0, occurred_at=first), _event(1, occurred_at=first.replace(fold=1))]

    request = msgspec.json.decode(publish_request(events))

    sent = [json.loads(base64.b64decode(m["data"]))["occurred_at"] for m in request["messages"]]
    assert sent == ["2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00+00:00"]
