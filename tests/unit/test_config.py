"""Configuration: defaults, one clear line for each bad value, secrets kept out of reprs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.config import ConfigError, load_config

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
        ({"WA_META_SANDBOX": "false"}, "WA_META_PHONE_NUMBER_ID"),
        ({"WA_PUBSUB_FDR_SUBSCRIPTION": "fdr"}, "WA_PUBSUB_PROJECT"),
        ({"WA_PUBSUB_OUTCOME_SUBSCRIPTION": "shipments"}, "WA_PUBSUB_PROJECT"),
        ({"WA_PORTAL_TRACKING_URL": "https://t.example/{awb}"}, "WA_PORTAL_TRACKING_URL"),
        ({"WA_AUTH_JWT_SECRET": "short"}, "WA_AUTH_JWT_SECRET"),
        ({"WA_ESB_URL": "esb.internal"}, "WA_ESB_URL"),
        ({"PUBSUB_EMULATOR_HOST": "localhost"}, "PUBSUB_EMULATOR_HOST"),
        ({"WA_WORKER_METRICS_PORT": "70000"}, "WA_WORKER_METRICS_PORT"),
        ({"WA_PUBSUB_PUSH_TOKEN": "short"}, "WA_PUBSUB_PUSH_TOKEN"),
        ({"WA_PUBSUB_PUSH_SERVICE_ACCOUNT": "sa@x.iam"}, "WA_PUBSUB_PUSH_AUDIENCE"),
        ({"WA_PUBSUB_PUSH_JWKS_URL": "certs.json"}, "WA_PUBSUB_PUSH_JWKS_URL"),
        ({"WA_WORKER_METRICS_PORT": "metrics"}, "WA_WORKER_METRICS_PORT"),
    ],
)
def test_a_bad_value_names_its_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ, env_file=None)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"configuration error: {variable} ")
    assert "\n" not in str(caught.value)


def test_the_worker_metrics_port_can_be_turned_off() -> None:
    assert load_config({}, env_file=None).worker_metrics_port == 9464
    assert load_config({"WA_WORKER_METRICS_PORT": "0"}, env_file=None).worker_metrics_port is None


def test_dotenv_fills_in_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WA_DEFAULT_ACCOUNT_ID=7\nWA_META_THROUGHPUT=200\n")
    config = load_config({"WA_META_THROUGHPUT": "300"}, env_file=env_file)
    assert (config.default_account_id, config.meta_throughput) == (7, 300)


def test_the_cli_stops_at_start_with_one_line() -> None:
    env = {**os.environ, "WA_REDIS_URL": "localhost:6379", "WA_META_ACCESS_TOKEN": "tok-secret"}
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "serve"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: WA_REDIS_URL must start with redis://, rediss:// or unix://"
    ]
    assert "tok-secret" not in result.stderr + result.stdout
