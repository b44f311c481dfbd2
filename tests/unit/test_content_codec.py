"""What we sent is kept as JSON and read back the same (the portal thread, the sandbox)."""

from __future__ import annotations

import pytest

from application.content_codec import content_from_json, content_json
from domain.messages import Content, InteractiveMessage, QuickReply, TemplateMessage, TextMessage

SENT: list[Content] = [
    TemplateMessage(
        name="otp_cancellation_v1",
        language="en",
        body_parameters=("Aman", "Scitron Shopify", "4980116095129"),
        button_payloads=("fdr:ab12:not_cancelled", "fdr:ab12:confirm_cancel"),
    ),
    InteractiveMessage(
        body="Which day suits you?",
        buttons=(QuickReply("date:2026-11-27", "Fri 27 Nov"), QuickReply("date:2026-11-28", "Sat")),
    ),
    TextMessage(
        body="Thank you, we will reattempt tomorrow. https://wa.example.com/t/1", preview_url=True
    ),
]


@pytest.mark.parametrize("content", SENT, ids=["template", "interactive", "text"])
def test_each_kind_reads_back_as_sent(content: Content) -> None:
    assert content_from_json(content_json(content)) == content


def test_rows_written_before_the_codec_still_read() -> None:
    # Follow-up texts were stored without preview_url; templates with exactly these keys.
    assert content_from_json('{"type": "text", "body": "Noted."}') == TextMessage(body="Noted.")
    old_template = (
        '{"type": "template", "name": "oda_v1", "language": "en", '
        '"body_parameters": ["Aman"], "button_payloads": ["fdr:x:cancel"]}'
    )
    assert content_from_json(old_template) == TemplateMessage(
        name="oda_v1", language="en", body_parameters=("Aman",), button_payloads=("fdr:x:cancel",)
    )


def test_non_ascii_is_kept_readable_in_the_row() -> None:
    assert "आपका" in content_json(TextMessage(body="आपका पार्सल"))


def test_something_we_never_send_is_refused() -> None:
    with pytest.raises(ValueError, match="image"):
        content_from_json('{"type": "image"}')
