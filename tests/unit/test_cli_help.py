"""``fdr-whatsapp ... --help``: every option says what it is for and its default, and the two
long-running processes name the environment they read (generated from the configuration)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from entrypoints.cli import _parser
from infrastructure.config import variables

PROJECT = Path(__file__).resolve().parents[2]


def _commands(
    parser: argparse.ArgumentParser, name: str = "fdr-whatsapp"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _commands(subparser, f"{name} {sub}")


def test_every_option_has_help_and_shows_its_default() -> None:
    for name, parser in _commands(_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.dest}: no help text"
            if action.default not in (None, False, []) and action.option_strings:
                assert f"(default: {action.default})" in " ".join(text.split()), (
                    f"{name} {action.dest}: default not shown"
                )


def _help(*args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "composition.cli", *args, "--help"],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_worker_and_serve_help_list_the_variables_they_read() -> None:
    worker = _help("worker")
    assert "WA_PUBSUB_FDR_SUBSCRIPTION" in worker
    assert "WA_WORKER_CONCURRENCY" in worker
    assert "(default: 32)" in worker
    assert "WA_AUTH_JWT_SECRET" not in worker  # the portal is served, not pulled
    serve = _help("serve")
    assert "WA_AUTH_JWT_SECRET" in serve
    assert "WA_PUBSUB_FDR_SUBSCRIPTION" not in serve
    assert "--port PORT  port to listen on (default: 8000)" in serve
    pump = _help("pump")
    assert "WA_WEBHOOK_POLL_SECONDS" in pump
    assert "WA_AUTH_JWT_SECRET" not in pump  # it answers no request
    assert "WA_WEBHOOK_PUMP " in serve
    for command, text in (("serve", serve), ("worker", worker), ("pump", pump)):
        for variable in variables(command):
            assert variable.name in text


def test_sandbox_event_help_names_the_ready_made_reasons() -> None:
    text = " ".join(_help("sandbox", "event").split())
    assert "--reason" in text
    assert "customer_unavailable" in text
    assert "otp_cancellation" in text
