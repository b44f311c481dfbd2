"""The demo as a newcomer uses it: start it, push the seed's event, answer as the shopper; and
whatever Meta credentials are configured, the demo never calls Meta."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import FIXTURES, new_id
from tests.support.services import free_port
from tests.support.stack import REAL_META_CREDENTIALS

PROJECT = Path(__file__).resolve().parents[2]
META_CREDENTIALS = REAL_META_CREDENTIALS


class Demo:
    def __init__(self, folder: Path, port: int, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.env = {"PYTHONPATH": str(PROJECT / "src"), **env}
        self.folder = folder
        self.token = ""
        self.banner: list[str] = []
        self.log = ""  # what it printed after the banner, once it stopped

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "composition.cli", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def sandbox(self, *args: str) -> str:
        result = self.cli("sandbox", "--url", self.url, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def enable(self, account_id: int, *, on: bool = True) -> None:
        enabled = httpx.put(
            f"{self.url}/api/v1/workspaces/{account_id}/whatsapp/settings",
            headers={"Authorization": f"Bearer {self.token}"},
            json={"isWhatsappEnabled": on, "whatsappSenderConnectionId": None, "templates": {}},
            timeout=60,
        )
        assert enabled.status_code == 200, enabled.text


def _environment(**changes: str) -> dict[str, str]:
    """The test's environment without any WA_* setting of the machine running it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    # The demo sends at whatever hour the test runs: quiet hours are tested on a clock the
    # test moves (test_quiet_hours.py).
    env["WA_QUIET_HOURS"] = "off"
    env.update(changes)
    return env


@contextmanager
def running_demo(folder: Path, env: dict[str, str]) -> Iterator[Demo]:
    port = free_port()
    demo = Demo(folder, port, env)
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "composition.cli", "demo", "--port", str(port)],
        cwd=folder,
        env=demo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the banner comes before the server starts
            demo.banner.append(line.rstrip())
            if "portal token" in line:
                demo.token = line.rsplit(" ", 1)[1].strip()
                break
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{demo.url}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the demo did not get ready")
        yield demo
    finally:
        process.terminate()
        demo.log, _ = process.communicate(timeout=60)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the tests that only use it (starting one costs seconds): each of them
    leaves the demo usable for the next, whatever the order."""
    folder = tmp_path_factory.mktemp("demo")
    database = f"sqlite+aiosqlite:///{folder / 'demo.db'}"
    with running_demo(folder, _environment(WA_DATABASE_URL=database)) as running:
        yield running


class GraphApiSpy:
    """Anything at all that reaches "Meta": the demo must send it nothing."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        spy = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                spy.paths.append(self.path)
                self.send_response(500)
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def graph_api() -> Iterator[GraphApiSpy]:
    spy = GraphApiSpy()
    try:
        yield spy
    finally:
        spy.close()


def test_a_shopper_answers_the_seed_event_in_the_sandbox(demo: Demo) -> None:
    demo.enable(379)
    pushed = demo.sandbox("event", str(FIXTURES / "fdr-event-otp-cancellation.json"))
    assert pushed.startswith("sent: message id wamid.")
    shown = demo.sandbox("show", "17148471")
    assert "template [accepted]" in shown
    assert "I didn't cancel (not_cancelled), Confirm cancel (confirm_cancel)" in shown
    assert "Hello Aman" in shown  # the template's text as the shopper read it
    assert "7891971009" not in shown

    answered = demo.sandbox("reply", "17148471", "--button", "confirm_cancel")
    assert "we will cancel your order" in answered
    # The whole thread: the shopper's tap, the follow-up and the ESB's answer.
    thread = demo.sandbox("show", "17148471")
    assert "<- the shopper tapped: confirm_cancel" in thread
    assert "we will cancel your order" in thread
    assert "=> ESB cancel: done, ESB answered: MEM-NDR-" in thread
    again = demo.sandbox("reply", "17148471", "--button", "not_cancelled")
    assert "already have your answer" in again

    missing = demo.cli("sandbox", "--url", demo.url, "reply", "17148471", "--button", "nope")
    assert missing.returncode == 1
    assert "has no button 'nope'" in missing.stderr


def test_the_demo_says_what_it_runs_on(demo: Demo) -> None:
    assert f"  database:    SQLite {demo.folder / 'demo.db'}" in demo.banner
    assert any("Meta sandbox: nothing is sent to WhatsApp" in line for line in demo.banner)
    secret = demo.folder / "var" / f"sandbox-{demo.url.rsplit(':', 1)[1]}.secret"
    assert secret.stat().st_mode & 0o077 == 0  # the webhook secret of this run, for its owner


def _event_file(folder: Path, account_id: int) -> tuple[Path, int]:
    event = json.loads((FIXTURES / "fdr-event-otp-cancellation.json").read_bytes())
    shipment = new_id()
    event["response_data"].update(id=shipment, account_id=account_id, status_log_id=new_id())
    path = folder / "event.json"
    path.write_text(json.dumps(event))
    return path, shipment


def _the_shopper_is_answered_in_the_sandbox_only(demo: Demo, graph_api: GraphApiSpy) -> None:
    account = new_id()
    demo.enable(account)
    event, shipment = _event_file(demo.folder, account)
    demo.sandbox("event", str(event))
    shown = demo.sandbox("show", str(shipment))
    assert "template [accepted]" in shown
    answered = demo.sandbox("reply", str(shipment), "--button", "confirm_cancel")
    assert "we will cancel your order" in answered  # signed with the demo's own secret
    assert graph_api.paths == []
    output = "\n".join(demo.banner) + shown + answered
    assert all(value not in output for value in META_CREDENTIALS.values())


def test_with_meta_credentials_in_the_environment_the_demo_stays_in_the_sandbox(
    tmp_path: Path, graph_api: GraphApiSpy
) -> None:
    env = _environment(
        WA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        WA_META_GRAPH_URL=graph_api.url,
        **META_CREDENTIALS,
    )
    with running_demo(tmp_path, env) as demo:
        _the_shopper_is_answered_in_the_sandbox_only(demo, graph_api)


def test_with_meta_credentials_in_dotenv_on_mariadb_the_demo_stays_in_the_sandbox(
    tmp_path: Path, graph_api: GraphApiSpy, mysql_url: str
) -> None:
    dotenv = {"WA_META_GRAPH_URL": graph_api.url, "WA_DATABASE_URL": mysql_url, **META_CREDENTIALS}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
    with running_demo(tmp_path, _environment()) as demo:
        url = make_url(mysql_url)
        where = f"{url.username}@{url.host}:{url.port or 3306}/{url.database}"
        assert f"  database:    MySQL/MariaDB {where}" in demo.banner
        assert not any("SQLite" in line for line in demo.banner)
        _the_shopper_is_answered_in_the_sandbox_only(demo, graph_api)


def test_the_sandbox_without_a_running_demo_says_so(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "composition.cli",
            "sandbox",
            "--url",
            f"http://127.0.0.1:{port}",
            "status",
            "17148471",
            "read",
        ],
        cwd=tmp_path,
        env=_environment(
            PYTHONPATH=str(PROJECT / "src"),
            WA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'none.db'}",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"no demo found for http://127.0.0.1:{port}: start `fdr-whatsapp demo --port {port}` "
        f"in this folder (it leaves var/sandbox-{port}.secret for the sandbox)"
    )


def test_sandbox_event_says_what_became_of_each_ready_made_event(demo: Demo) -> None:
    demo.enable(379, on=False)  # the ready-made events' workspace, whatever ran before
    skipped = demo.sandbox("event", "--reason", "customer_unavailable")
    assert skipped.startswith("skipped: whatsapp_disabled")  # workspace 379 is off
    demo.enable(379)
    sent = demo.sandbox("event", "--reason", "refused")
    assert sent.startswith("sent: message id wamid.")
    assert "fdr-whatsapp sandbox show 17148403" in sent
    again = demo.sandbox("event", "--reason", "refused")
    assert again.startswith("duplicate: attempt ")
    broken = demo.folder / "broken.json"
    broken.write_text(
        '{"resource": "shipment", "eventSubType": "failed_delivery", "response_data": {}}'
    )
    malformed = demo.cli("sandbox", "--url", demo.url, "event", str(broken))
    assert malformed.returncode == 1
    assert malformed.stdout.startswith("malformed: ")
    assert "account_id" in malformed.stdout  # the field


def test_a_missing_event_file_is_one_line(demo: Demo) -> None:
    missing = demo.cli("sandbox", "--url", demo.url, "event", "no-such-event.json")
    assert missing.returncode == 1
    assert missing.stderr == "cannot read no-such-event.json: No such file or directory\n"
    assert missing.stdout == ""


def test_the_printed_link_logs_the_browser_in_once(demo: Demo) -> None:
    [line] = [line for line in demo.banner if "log in:" in line]
    link = line.split()[2]
    assert demo.token not in link  # a code stands for the token
    with httpx.Client(timeout=60, follow_redirects=True) as browser:
        first = browser.get(link)  # follows the redirect into the console
        assert first.status_code == 200
        assert str(first.url).endswith("/console/workspaces")
        assert "Workspaces" in first.text
    again = httpx.get(link, timeout=60)
    assert again.status_code == 401
    assert "used already" in again.text


def test_a_second_demo_on_a_taken_port_says_so_in_one_line(demo: Demo) -> None:
    port = demo.url.rsplit(":", 1)[1]
    second = demo.cli("demo", "--port", port)
    assert second.returncode == 1
    assert second.stdout == ""
    assert (
        second.stderr
        == f"port {port} on 127.0.0.1 is taken (another demo?): stop it, or use --port\n"
    )


def test_the_demo_logs_each_request_and_says_how_to_start_clean(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    env = _environment(WA_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    with running_demo(tmp_path, env) as demo:
        assert f"  start clean: stop the demo and delete {database} (made again at start)" in (
            demo.banner
        )
        assert httpx.get(f"{demo.url}/track/whatsapp/9876543210", timeout=60).status_code == 404
    assert "GET /health/ready 200" in demo.log
    assert "GET /track/whatsapp/******3210 404" in demo.log  # no full phone-like numbers
