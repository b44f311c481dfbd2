"""Configuration: defaults, one clear line for each bad value, secrets kept out of reprs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infrastructure import config as config_module
from infrastructure.config import ConfigError, load_config, variables

PROJECT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_demo() -> None:
    config = load_config({}, env_file=None)
    assert config.database_url == "sqlite+aiosqlite:///./var/fdr-whatsapp.db"
    assert config.redis_url is None
    assert config.meta_sandbox is True
    assert config.default_account_id == 5
    assert config.meta_throughput == 80


def test_all_meta_credentials_turn_the_sandbox_off_and_stay_out_of_repr() -> None:
    config = load_config(
        {
            "WA_META_PHONE_NUMBER_ID": "106540352242922",
            "WA_META_WABA_ID": "102290129340398",
            "WA_META_ACCESS_TOKEN": "EAAG-very-secret",
            "WA_META_APP_SECRET": "app-secret-value",
        },
        env_file=None,
    )
    assert config.meta_sandbox is False
    assert "very-secret" not in repr(config)
    assert "app-secret-value" not in repr(config)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"WA_DATABASE_URL": "postgresql://x/y"}, "WA_DATABASE_URL"),
        ({"WA_DATABASE_URL": "::not a url::"}, "WA_DATABASE_URL"),
        ({"WA_DATABASE_TIMEOUT_SECONDS": "0"}, "WA_DATABASE_TIMEOUT_SECONDS"),
        ({"WA_REDIS_URL": "http://localhost"}, "WA_REDIS_URL"),
        ({"WA_META_THROUGHPUT": "1001"}, "WA_META_THROUGHPUT"),
        ({"WA_META_THROUGHPUT": "fast"}, "WA_META_THROUGHPUT"),
        ({"WA_DEFAULT_ACCOUNT_ID": "-5"}, "WA_DEFAULT_ACCOUNT_ID"),
        ({"WA_META_SANDBOX": "perhaps"}, "WA_META_SANDBOX"),
        ({"WA_META_SANDBOX": "false"}, "WA_META_APP_SECRET"),
        ({"WA_PUBSUB_FDR_SUBSCRIPTION": "fdr"}, "WA_PUBSUB_PROJECT"),
        ({"WA_PUBSUB_OUTCOME_SUBSCRIPTION": "shipments"}, "WA_PUBSUB_PROJECT"),
        ({"WA_PORTAL_TRACKING_URL": "https://t.example/{awb}"}, "WA_PORTAL_TRACKING_URL"),
        ({"WA_AUTH_JWT_SECRET": "short"}, "WA_AUTH_JWT_SECRET"),
        ({"WA_ESB_URL": "esb.internal"}, "WA_ESB_URL"),
        ({"WA_ESB_TOKEN": "two words"}, "WA_ESB_TOKEN"),
        ({"PUBSUB_EMULATOR_HOST": "localhost"}, "PUBSUB_EMULATOR_HOST"),
        ({"WA_WORKER_METRICS_PORT": "70000"}, "WA_WORKER_METRICS_PORT"),
        ({"WA_PUBSUB_PUSH_TOKEN": "short"}, "WA_PUBSUB_PUSH_TOKEN"),
        ({"WA_PUBSUB_PUSH_SERVICE_ACCOUNT": "sa@x.iam"}, "WA_PUBSUB_PUSH_AUDIENCE"),
        ({"WA_PUBSUB_PUSH_JWKS_URL": "certs.json"}, "WA_PUBSUB_PUSH_JWKS_URL"),
        ({"WA_WORKER_METRICS_PORT": "metrics"}, "WA_WORKER_METRICS_PORT"),
        ({"WA_UNKNOWN_SEND_RECHECK_SECONDS": "0"}, "WA_UNKNOWN_SEND_RECHECK_SECONDS"),
        ({"WA_FDR_STALE_AFTER_HOURS": "soon"}, "WA_FDR_STALE_AFTER_HOURS"),
        ({"WA_QUIET_HOURS": "21:00"}, "WA_QUIET_HOURS"),
        ({"WA_QUIET_HOURS": "9pm-9am"}, "WA_QUIET_HOURS"),
        ({"WA_QUIET_HOURS_ZONE": "IST"}, "WA_QUIET_HOURS_ZONE"),
        ({"WA_WEBHOOK_PUMP": "separate"}, "WA_WEBHOOK_PUMP"),
        ({"WA_WEBHOOK_POLL_SECONDS": "0"}, "WA_WEBHOOK_POLL_SECONDS"),
        ({"WA_PUMP_METRICS_PORT": "metrics"}, "WA_PUMP_METRICS_PORT"),
    ],
)
def test_a_bad_value_names_its_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ, env_file=None)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"configuration error: {variable} ")
    assert "\n" not in str(caught.value)


def test_the_esb_token_stays_out_of_repr() -> None:
    config = load_config({"WA_ESB_TOKEN": "esb-secret-token"}, env_file=None)
    assert config.esb_token == "esb-secret-token"
    assert "esb-secret-token" not in repr(config)


def test_unknown_sends_and_stale_attempts_have_their_defaults() -> None:
    default = load_config({}, env_file=None)
    assert (default.unknown_send_recheck_seconds, default.fdr_stale_after_hours) == (600, 48)
    changed = load_config(
        {"WA_UNKNOWN_SEND_RECHECK_SECONDS": "120", "WA_FDR_STALE_AFTER_HOURS": "72"},
        env_file=None,
    )
    assert (changed.unknown_send_recheck_seconds, changed.fdr_stale_after_hours) == (120, 72)


def test_quiet_hours_default_to_the_night_in_india_and_can_be_changed_or_turned_off() -> None:
    default = load_config({}, env_file=None).quiet_hours
    assert default.describe() == "21:00-09:00 Asia/Kolkata"
    changed = load_config(
        {"WA_QUIET_HOURS": "22:30-07:15", "WA_QUIET_HOURS_ZONE": "Asia/Dubai"}, env_file=None
    ).quiet_hours
    assert changed.describe() == "22:30-07:15 Asia/Dubai"
    assert load_config({"WA_QUIET_HOURS": "off"}, env_file=None).quiet_hours.off


def test_the_worker_metrics_port_can_be_turned_off() -> None:
    assert load_config({}, env_file=None).worker_metrics_port == 9464
    assert load_config({"WA_WORKER_METRICS_PORT": "0"}, env_file=None).worker_metrics_port is None


def test_serve_runs_the_webhook_pump_unless_it_is_turned_off() -> None:
    default = load_config({}, env_file=None)
    assert (default.webhook_pump, default.webhook_poll_seconds) == ("inline", 0.2)
    assert default.pump_metrics_port == 9465
    apart = load_config(
        {"WA_WEBHOOK_PUMP": "Off", "WA_WEBHOOK_POLL_SECONDS": "0.5", "WA_PUMP_METRICS_PORT": "0"},
        env_file=None,
    )
    assert (apart.webhook_pump, apart.webhook_poll_seconds) == ("off", 0.5)
    assert apart.pump_metrics_port is None


def test_dotenv_fills_in_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WA_DEFAULT_ACCOUNT_ID=7\nWA_META_THROUGHPUT=200\n")
    config = load_config({"WA_META_THROUGHPUT": "300"}, env_file=env_file)
    assert (config.default_account_id, config.meta_throughput) == (7, 300)


def _serve(**environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "composition.cli", "serve"],
        cwd=PROJECT,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_webhook_pump_mode_stops_serve_with_one_line() -> None:
    result = _serve(WA_WEBHOOK_PUMP="separate")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: WA_WEBHOOK_PUMP must be inline or off, not 'separate'"
    ]


def test_the_cli_stops_at_start_with_one_line() -> None:
    result = _serve(
        WA_REDIS_URL="localhost:6379",
        WA_META_APP_SECRET="app-secret",
        WA_META_PHONE_NUMBER_ID="106540352242922",
        WA_META_WABA_ID="102290129340398",
        WA_META_ACCESS_TOKEN="tok-secret",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: WA_REDIS_URL must start with redis://, rediss:// or unix://"
    ]
    assert "tok-secret" not in result.stderr + result.stdout
    assert "app-secret" not in result.stderr + result.stdout


FOUR = {
    "WA_META_APP_SECRET": "app-secret-value",
    "WA_META_PHONE_NUMBER_ID": "106540352242922",
    "WA_META_WABA_ID": "102290129340398",
    "WA_META_ACCESS_TOKEN": "EAAG-very-secret",
}


@pytest.mark.parametrize(
    "missing",
    [
        ["WA_META_APP_SECRET"],
        ["WA_META_ACCESS_TOKEN"],
        ["WA_META_WABA_ID", "WA_META_ACCESS_TOKEN"],
        ["WA_META_APP_SECRET", "WA_META_PHONE_NUMBER_ID", "WA_META_WABA_ID"],
    ],
)
def test_a_partial_set_of_meta_credentials_stops_start_up_naming_what_is_missing(
    missing: list[str],
) -> None:
    given = {k: v for k, v in FOUR.items() if k not in missing}

    with pytest.raises(ConfigError) as caught:
        load_config(given, env_file=None)

    line = str(caught.value)
    assert line.startswith(f"configuration error: {' and '.join(missing)} ")
    assert "\n" not in line
    assert all(value not in line for value in FOUR.values())


def test_a_partial_set_in_dotenv_stops_start_up_too(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WA_META_PHONE_NUMBER_ID=1065\nWA_META_WABA_ID=1022\n")
    with pytest.raises(ConfigError, match="WA_META_APP_SECRET and WA_META_ACCESS_TOKEN are"):
        load_config({}, env_file=env_file)


def test_the_sandbox_is_only_chosen_explicitly_with_credentials_set() -> None:
    partial = {"WA_META_APP_SECRET": "app-secret-value", "WA_META_SANDBOX": "true"}
    assert load_config(partial, env_file=None).meta_sandbox is True
    assert load_config({**FOUR, "WA_META_SANDBOX": "true"}, env_file=None).meta_sandbox is True
    assert load_config({}, env_file=None).meta_sandbox is True
    assert load_config(FOUR, env_file=None).meta_sandbox is False


def test_where_messages_go_is_one_line_without_secrets() -> None:
    real = load_config(FOUR, env_file=None).meta_label()
    sandbox = load_config({}, env_file=None).meta_label()
    assert real == "sending to Meta's Cloud API at https://graph.facebook.com (v23.0)"
    assert sandbox.startswith("Meta sandbox: nothing is sent to WhatsApp")
    assert all(value not in real + sandbox for value in FOUR.values() if "secret" in value)


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("sqlite+aiosqlite:///./var/fdr-whatsapp.db", "SQLite ./var/fdr-whatsapp.db"),
        (
            "mysql+asyncmy://fdr:pw-secret@db.internal:3307/fdr",
            "MySQL/MariaDB fdr@db.internal:3307/fdr",
        ),
        ("mysql+asyncmy://root@127.0.0.1/test_x", "MySQL/MariaDB root@127.0.0.1:3306/test_x"),
    ],
)
def test_the_database_is_named_as_it_is_without_its_password(url: str, label: str) -> None:
    assert load_config({"WA_DATABASE_URL": url}, env_file=None).database_label() == label


def test_the_help_lists_exactly_the_variables_the_reader_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: set[str] = set()
    read = config_module._Reader.raw

    def raw(self: Any, name: str) -> str | None:
        asked.add(name)
        return read(self, name)

    monkeypatch.setattr(config_module._Reader, "raw", raw)
    load_config({}, env_file=None)
    listed = {v.name for c in ("serve", "worker", "pump") for v in variables(c)}
    assert listed == asked
    assert "WA_WEBHOOK_PUMP" in {v.name for v in variables("serve")}
    assert "WA_WEBHOOK_POLL_SECONDS" in {v.name for v in variables("pump")}
    assert "WA_PUBSUB_FDR_SUBSCRIPTION" in {v.name for v in variables("worker")}
    assert "WA_PUBSUB_FDR_SUBSCRIPTION" not in {v.name for v in variables("serve")}


def test_outcome_event_names_are_added_as_name_kind_pairs() -> None:
    config = load_config(
        {"WA_OUTCOME_EVENT_NAMES": "RTO-OFD=rto_initiated, return received = rto_delivered,"},
        env_file=None,
    )
    assert {k: v.value for k, v in config.outcome_event_names.items()} == {
        "rto_ofd": "rto_initiated",
        "return_received": "rto_delivered",
    }
    assert load_config({}, env_file=None).outcome_event_names == {}
    with pytest.raises(ConfigError) as caught:
        load_config({"WA_OUTCOME_EVENT_NAMES": "rto_ofd=returned"}, env_file=None)
    assert str(caught.value).startswith(
        "configuration error: WA_OUTCOME_EVENT_NAMES must be name=kind pairs"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WA_META_ACCESS_TOKEN", "EAAG-very\nX-Injected: yes"),
        ("WA_META_ACCESS_TOKEN", "EAAG-very\x00secret"),
        ("WA_META_ACCESS_TOKEN", "EAAG very secret"),
        ("WA_META_PHONE_NUMBER_ID", "1065\r\n4035"),
        ("WA_META_WABA_ID", "1022/../me"),
    ],
    ids=["LF in token", "NUL in token", "spaces in token", "CRLF in id", "slash in id"],
)
def test_a_meta_credential_that_would_break_the_request_stops_start_up(
    name: str, value: str
) -> None:
    # The token goes in the Authorization header and the ids in the URL's path: a control
    # character there was sent as it was (header injection, or a request cut short).
    with pytest.raises(ConfigError) as caught:
        load_config({**FOUR, name: value}, env_file=None)
    line = str(caught.value)
    assert line.startswith(f"configuration error: {name} must be printable ASCII without spaces")
    assert "\n" not in line
    assert value not in line
    assert all(given not in line for given in FOUR.values())


def test_serve_refuses_an_access_token_with_a_control_character_with_one_line() -> None:
    result = _serve(**{**FOUR, "WA_META_ACCESS_TOKEN": "EAAG-very\r\nX-Injected: yes"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: WA_META_ACCESS_TOKEN must be printable ASCII without spaces"
    ]
    assert "EAAG-very" not in result.stderr + result.stdout
