"""The demo as a newcomer uses it: start it, push the seed's event, answer as the shopper."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.support.services import free_port

PROJECT = Path(__file__).resolve().parents[2]


class Demo:
    def __init__(self, folder: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.database_url = f"sqlite+aiosqlite:///{folder / 'demo.db'}"
        self.env = {
            **os.environ,
            "WA_DATABASE_URL": self.database_url,
            "PYTHONPATH": str(PROJECT / "src"),
        }
        self.folder = folder
        self.token = ""

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "entrypoints.cli", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def sandbox(self, *args: str) -> str:
        result = self.cli("sandbox", "--url", self.url, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    running = Demo(tmp_path, port)
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "entrypoints.cli", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=running.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the banner comes before the server starts
            if "portal token" in line:
                running.token = line.rsplit(" ", 1)[1].strip()
                break
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{running.url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the demo did not get ready")
        yield running
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_a_shopper_answers_the_seed_event_in_the_sandbox(demo: Demo) -> None:
    enabled = httpx.put(
        f"{demo.url}/api/v1/workspaces/379/whatsapp/settings",
        headers={"Authorization": f"Bearer {demo.token}"},
        json={"isWhatsappEnabled": True, "whatsappSenderConnectionId": None, "templates": {}},
    )
    assert enabled.status_code == 200, enabled.text
    pushed = demo.sandbox("event", str(FIXTURES / "fdr-event-otp-cancellation.json"))
    assert "event accepted" in pushed
    shown = demo.sandbox("show", "17148471")
    assert "template fdr_otp_cancellation [accepted]" in shown
    assert "not_cancelled, confirm_cancel" in shown
    assert "7891971009" not in shown

    answered = demo.sandbox("reply", "17148471", "--button", "confirm_cancel")
    assert "we will cancel your order" in answered
    again = demo.sandbox("reply", "17148471", "--button", "not_cancelled")
    assert "already have your answer" in again

    missing = demo.cli("sandbox", "--url", demo.url, "reply", "17148471", "--button", "nope")
    assert missing.returncode == 1
    assert "has no button 'nope'" in missing.stderr
