"""The benchmarks cannot rot: a tiny ingest round against a real ``serve``, the peer, and the
reference receiver, sender and status writer.

``make bench`` is not part of ``make test``; this runs the same code on a few hundred updates
(its own database, Redis prefix and processes, the session's emulator) and checks that
every acknowledged update was stored exactly once.
"""

from __future__ import annotations

import pytest

from bench.answers import run_answers
from bench.compare import sends_done
from bench.fanout import new_events, publish_all, template_event
from bench.httpload import run_closed_loop
from bench.ingest import WEBHOOK_PATH, Level, run_ingest
from bench.outcomes import run_outcomes
from bench.payloads import Webhook, http_request, seed_messages, status_webhooks
from bench.peer import run_peer
from bench.reference import apply_statuses
from bench.scheduler import run_scheduler
from bench.stack import bench_stack

pytestmark = [pytest.mark.mysql, pytest.mark.redis, pytest.mark.pubsub]


async def test_a_small_ingest_round_stores_every_update_once(pubsub_emulator_host: str) -> None:
    async with bench_stack(meta_delay=0.0, emulator_host=pubsub_emulator_host) as stack:
        result = await run_ingest(stack, (Level(1, 4, 300), Level(50, 2, 600)), replies=10)

    assert result["checks"]["exactly_once"], result["checks"]
    assert result["checks"]["updates_acknowledged"] == 300 + 300 + 600
    assert [level["errors"] for level in result["levels"]] == [0, 0]
    assert result["redelivery"]["new_reports_from_redelivery"] == 0
    assert result["replies"]["follow_ups_sent"] == 10
    assert result["serve_memory"]["ready_seconds"] > 0


async def test_answers_on_one_and_two_serve_are_each_answered_once(
    pubsub_emulator_host: str,
) -> None:
    async with bench_stack(meta_delay=0.0, emulator_host=pubsub_emulator_host) as stack:
        result = await run_answers(stack, None, quick=True, taps=8, statuses=0)

    assert set(result["answers"]) == {
        "after, 1 serve",
        "after, 2 serve",
        "after, 1 serve, reattempt",
    }
    for row in result["answers"].values():
        assert row["errors"] == 0
        assert row["posts"] == row["follow_ups_sent"] == row["handled_in_db"] == 8
    assert result["answers"]["after, 1 serve, reattempt"]["esb_actions_done"] == 8
    assert result["answers"]["after, 1 serve"]["esb_actions_done"] == 0


def test_the_peer_parses_the_same_bodies() -> None:
    result = run_peer(updates=300, repeats=1)

    by_parser = {(r["parser"], r["per_body"]): r for r in result["runs"]}
    assert by_parser[("fdr-whatsapp parse", 50)]["updates_surfaced"] == 300
    assert by_parser[("pywa, every status", 50)]["updates_surfaced"] == 300
    assert by_parser[("pywa (as shipped)", 50)]["updates_surfaced"] == 6  # one per body


async def test_the_outcomes_round_acknowledges_unmessaged_shipments_without_a_write() -> None:
    result = await run_outcomes(quick=True)

    assert result["worker"]["acknowledged_unhandled"] == result["events"]
    assert result["rows_written"] == dict.fromkeys(result["rows_written"], 0)
    assert set(result["per_event"]["outcomes"]) == {"not_fdr", "outcome_not_messaged"}


async def test_the_reference_receiver_and_sender_do_their_little(pubsub_emulator_host: str) -> None:
    async with bench_stack(meta_delay=0.0, emulator_host=pubsub_emulator_host) as stack:
        receiver, port = await stack.start_reference_receiver()
        try:
            messages = await seed_messages(stack.engine, 9_000_000, 20)
            hooks = list(status_webhooks(messages, 1))
            posted = await run_closed_loop(
                "127.0.0.1",
                port,
                [http_request(WEBHOOK_PATH, h) for h in hooks],
                concurrency=4,
                duration=60,
            )
            forged = await run_closed_loop(
                "127.0.0.1",
                port,
                [http_request(WEBHOOK_PATH, Webhook(hooks[0].body, "sha256=00", 1))],
                concurrency=1,
                duration=60,
            )
        finally:
            await receiver.stop()
        stored = await stack.scalar("SELECT COUNT(*) FROM bench_ref_inbox")
        assert (len(posted.ok()), stored) == (len(hooks), len(hooks))
        assert [o.status for o in forged.outcomes] == [401]

        await stack.new_fdr_subscription()
        sender = await stack.start_reference_sender(8)
        try:
            ids, bodies = new_events(template_event(), 30)
            await publish_all(stack, bodies)
            sends = await sends_done(stack, set(ids), 60)
        finally:
            await sender.stop()
        assert sorted(sends.shipments) == sorted(ids)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "text"])
async def test_the_reference_status_writer_moves_messages_forward_once(
    pubsub_emulator_host: str, binary: bool
) -> None:
    async with bench_stack(meta_delay=0.0, emulator_host=pubsub_emulator_host) as stack:
        messages = await seed_messages(stack.engine, 9_100_000, 40)
        bodies = [hook.body for hook in status_webhooks(messages, 25)]
        first = await apply_statuses(stack.database_url, bodies, per_transaction=20, binary=binary)
        again = await apply_statuses(stack.database_url, bodies, per_transaction=20, binary=binary)
        read = await stack.scalar(
            "SELECT COUNT(*) FROM wa_outgoing_messages WHERE id >= 9100000 AND status = 'read'"
        )
        logged = await stack.scalar(
            "SELECT COUNT(*) FROM wa_dlr_messages WHERE wa_outgoing_message_id >= 9100000"
        )
    assert (first["statuses"], again["statuses"]) == (120, 120)
    assert (read, logged) == (40, 120)


async def test_the_scheduler_round_does_every_job_once_across_processes() -> None:
    result = await run_scheduler(quick=True, processes=2)

    assert result["ran_twice"] == 0
    assert result["ran"] == result["rows_done"] == result["jobs"]
