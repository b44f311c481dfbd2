"""``fdr-whatsapp templates push|status`` as an operator runs them, against the Meta fake."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes.meta import FakeGraphApi, template_creation_error
from tests.support.stack import PHONE_NUMBER_ID, WABA_ID

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "token-for-templates"


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "composition.cli",
        *args,
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode()


async def test_push_creates_the_shipped_templates_once_and_status_shows_them(
    tmp_path: Path,
) -> None:
    async with FakeGraphApi() as meta:
        meta.add_sender(phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID, token=TOKEN)
        env = {
            **os.environ,
            "WA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fdr.db'}",
            "WA_META_GRAPH_URL": meta.base_url,
            "WA_META_SANDBOX": "false",
            "WA_META_APP_SECRET": "app-secret-for-templates",
            "WA_META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WA_META_WABA_ID": WABA_ID,
            "WA_META_ACCESS_TOKEN": TOKEN,
        }
        migrated = await _cli(env, "migrate")
        assert migrated[0] == 0, migrated[1]
        before = await _cli(env, "templates", "status")
        first = await _cli(env, "templates", "push")
        second = await _cli(env, "templates", "push")
        meta.review_created(WABA_ID, "APPROVED")
        after = await _cli(env, "templates", "status")

    assert before[0] == 1  # nothing is at Meta yet
    # The shipped templates (nine reasons and the reminder) in English and Hindi.
    assert before[1].count("missing ") == 20
    assert first[0] == 0, first[1]
    assert first[1].count("created  fdr_") == 20
    assert "[PENDING]" in first[1]
    assert second[0] == 0, second[1]
    assert second[1].count("exists   fdr_") == 20
    assert {t["language"] for t in meta.created_templates} == {"en", "hi"}
    assert len(meta.created_templates) == 20  # the second push asked Meta for nothing new
    assert all(template_creation_error(t) is None for t in meta.created_templates)
    assert {t["category"] for t in meta.created_templates} == {"UTILITY"}
    assert after[0] == 0, after[1]
    assert after[1].count("[APPROVED]") == 20


def test_meta_s_rules_for_a_template_creation() -> None:
    good = {
        "name": "fdr_oda",
        "language": "en",
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Aman"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Reattempt"}]},
        ],
    }
    assert template_creation_error(good) is None
    assert "lower case" in str(template_creation_error({**good, "name": "FDR ODA"}))
    no_example = {**good, "components": [{"type": "BODY", "text": "Hi {{1}}"}]}
    assert "example.body_text" in str(template_creation_error(no_example))
    long_button = {
        **good,
        "components": [
            {"type": "BODY", "text": "Hi"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "x" * 26}]},
        ],
    }
    assert "25 characters" in str(template_creation_error(long_button))
