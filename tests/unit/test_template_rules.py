"""What a workspace template must be before it is stored, and what Meta must confirm."""

from __future__ import annotations

import dataclasses

import pytest

from application.use_cases.portal.verify_template import check
from domain.errors import TemplateNotVerified
from domain.messages import QuickReply
from domain.phone import mask_numbers_in
from domain.reasons import FdrReason
from domain.template_rules import same_for_meta, template_problems
from domain.templates import MetaTemplate, TemplateVariable, WaTemplate, filled
from tests.support.doubles import DEFAULT_SENDER

GOOD = WaTemplate(
    account_id=379,
    template_name="brand_refused",
    language="en_US",
    template_body="Hi {{1}}, your order {{2}} was refused.",
    variables=(TemplateVariable.FIRST_NAME, TemplateVariable.ORDER_NUMBER),
    reason=FdrReason.REFUSED,
    buttons=(QuickReply("reattempt", "Reattempt delivery"), QuickReply("cancel", "Cancel order")),
)


def test_a_good_template_has_no_problems() -> None:
    assert template_problems(GOOD) == {}
    assert template_problems(dataclasses.replace(GOOD, language="fil", reason=None)) == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"template_name": "Brand Refused"}, "name"),
        ({"template_name": "x" * 256}, "name"),
        ({"language": "english"}, "language"),
        ({"language": "en-US"}, "language"),
        ({"template_body": "   "}, "body"),
        ({"template_body": "x" * 1025}, "body"),
        ({"template_body": "Hi {{1}}, order {{3}}"}, "body"),
        ({"template_body": "Hi {{1}}"}, "variables"),
        ({"variables": ()}, "variables"),
        ({"reason": FdrReason.UNKNOWN}, "reason"),
        ({"description": "d" * 256}, "description"),
        ({"buttons": (QuickReply("fly_away", "Fly away"),)}, "buttons[0].id"),
        ({"buttons": (QuickReply("cancel", "x" * 21),)}, "buttons[0].title"),
        ({"buttons": (QuickReply("cancel", "A"), QuickReply("cancel", "B"))}, "buttons"),
        ({"buttons": (QuickReply("cancel", "A"), QuickReply("reattempt", "A"))}, "buttons"),
        (
            {
                "buttons": tuple(
                    QuickReply(i, i) for i in ("cancel", "support", "reattempt", "pay_online")
                )
            },
            "buttons",
        ),
    ],
)
def test_each_problem_names_its_field(changes: dict[str, object], field: str) -> None:
    assert field in template_problems(dataclasses.replace(GOOD, **changes))  # type: ignore[arg-type]


def test_only_what_meta_sees_needs_a_new_verification() -> None:
    assert same_for_meta(GOOD, dataclasses.replace(GOOD, description="new words", reason=None))
    assert not same_for_meta(GOOD, dataclasses.replace(GOOD, template_body="Hi {{1}} {{2}}!"))
    assert not same_for_meta(GOOD, dataclasses.replace(GOOD, buttons=GOOD.buttons[:1]))


def _meta(**changes: object) -> MetaTemplate:
    values: dict[str, object] = {
        "id": "1234",
        "name": "brand_refused",
        "language": "en_US",
        "status": "APPROVED",
        "body": GOOD.template_body,
        "body_parameter_count": 2,
        "quick_replies": ("Reattempt delivery", "Cancel order"),
    }
    values.update(changes)
    return MetaTemplate(**values)  # type: ignore[arg-type]


def test_an_approved_template_with_the_same_shape_is_verified() -> None:
    found = check(GOOD, [_meta(language="en"), _meta()], DEFAULT_SENDER)
    assert found.id == "1234"


@pytest.mark.parametrize(
    ("catalogue", "failed", "says"),
    [
        ([], "not_found", "not found"),
        ([_meta(name="other")], "not_found", "not found"),
        ([_meta(language="en"), _meta(language="hi")], "language", "exists in en, hi"),
        ([_meta(status="PAUSED")], "status", "PAUSED"),
        ([_meta(status="PENDING")], "status", "PENDING"),
        ([_meta(body_parameter_count=3)], "variables", "2 variables expected, Meta has 3"),
        ([_meta(quick_replies=("Reattempt delivery",))], "buttons", "2 quick-reply buttons"),
        ([_meta(quick_replies=("Reattempt", "Cancel order"))], "buttons", "button 1"),
    ],
)
def test_each_failed_check_is_named(catalogue: list[MetaTemplate], failed: str, says: str) -> None:
    with pytest.raises(TemplateNotVerified, match=says) as caught:
        check(GOOD, catalogue, DEFAULT_SENDER)
    assert caught.value.check == failed


def test_numbers_in_free_text_are_masked() -> None:
    assert mask_numbers_in("call me on 98765 43210 or +91-7891971009, order 12345") == (
        "call me on ***** *3210 or +**-******1009, order 12345"
    )


def test_a_body_is_shown_with_its_values_filled_in() -> None:
    assert filled("Hi {{1}}, order {{2}}", (), ("Aman", "4980")) == "Hi Aman, order 4980"
    named = (TemplateVariable.FIRST_NAME, TemplateVariable.ORDER_NUMBER)
    assert filled("{{order_number}} for {{first_name}}", named, ("Aman", "4980")) == (
        "4980 for Aman"
    )
    assert filled("Hi {{1}} {{3}}", (), ("Aman",)) == "Hi Aman {{3}}"  # a value missing: as is
