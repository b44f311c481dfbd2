"""Value objects: phone numbers, message status, template checks, reason classification."""

from __future__ import annotations

import pytest

from domain.errors import InvalidPhoneNumber, TemplateMismatch
from domain.failed_delivery import Address, FailedDelivery, Item
from domain.phone import PhoneNumber, mask
from domain.reason_rules import ReasonRule, RuleSource, classify
from domain.reasons import FdrReason
from domain.status import MessageStatus
from domain.templates import TemplateVariable, WaTemplate, check_parameters, placeholder_count
from infrastructure.db.seed_data import RULES_V1


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("7891971009", "917891971009"),
        ("+91 78919 71009", "917891971009"),
        ("917891971009", "917891971009"),
        ("07891971009", "917891971009"),
        ("+1 (650) 555-1234", "16505551234"),
    ],
)
def test_phone_numbers_become_e164_digits(raw: str, digits: str) -> None:
    assert PhoneNumber.parse(raw).digits == digits


@pytest.mark.parametrize("raw", ["", "12345", "not a number", "0000000000"])
def test_unreadable_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        PhoneNumber.parse(raw)


def test_phone_numbers_print_masked() -> None:
    phone = PhoneNumber.parse("7891971009")
    assert str(phone) == "********1009"
    assert "7891971009" not in repr(phone)
    assert mask("12") == "12"


@pytest.mark.parametrize(
    ("arrivals", "final"),
    [
        (["sent", "delivered", "read"], "read"),
        (["read", "delivered", "sent"], "read"),
        (["delivered", "read", "sent"], "read"),
        (["read"], "read"),
        (["sent", "failed"], "failed"),
        (["failed", "read"], "failed"),
        (["delivered", "delivered"], "delivered"),
    ],
)
def test_status_only_moves_forward(arrivals: list[str], final: str) -> None:
    status = MessageStatus.ACCEPTED
    for arrival in arrivals:
        status = status.advance(MessageStatus(arrival))
    assert status is MessageStatus(final)


def test_placeholders_are_counted_like_meta() -> None:
    assert placeholder_count("Hi {{1}}, {{2}} and {{1}} again") == 2
    assert placeholder_count("Hi {{first_name}} {{order}}") == 2
    assert placeholder_count("no variables") == 0


def test_parameters_meta_would_refuse_are_caught_first() -> None:
    check_parameters("Hi {{1}}", ("Aman",))
    with pytest.raises(TemplateMismatch):
        check_parameters("Hi {{1}} {{2}}", ("Aman",))
    with pytest.raises(TemplateMismatch):
        check_parameters("Hi {{1}}", ("",))
    with pytest.raises(TemplateMismatch):
        check_parameters("Hi {{1}}", ("two\nlines",))


def test_a_template_renders_values_in_its_variable_order() -> None:
    template = WaTemplate(
        account_id=5,
        template_name="t",
        template_body="{{1}} ordered {{2}}",
        variables=(TemplateVariable.FIRST_NAME, TemplateVariable.ORDER_NUMBER),
    )
    message = template.render(
        {TemplateVariable.ORDER_NUMBER: "4980116095129", TemplateVariable.FIRST_NAME: "Aman"}, ()
    )
    assert message.body_parameters == ("Aman", "4980116095129")


def _fdr(**overrides: object) -> FailedDelivery:
    values: dict[str, object] = {"account_id": 1, "shipment_id": 2, "status_log_id": 3}
    values.update(overrides)
    return FailedDelivery(**values)  # type: ignore[arg-type]


RULES = [
    ReasonRule(
        source=RuleSource(r["source"]),
        pattern=r["pattern"],
        reason=FdrReason(r["reason"]),
        priority=r["priority"],
    )
    for r in RULES_V1
]


@pytest.mark.parametrize(
    ("fdr", "reason"),
    [
        (_fdr(ndr_code=14, ndr_description="OTP-based cancellation"), FdrReason.OTP_CANCELLATION),
        (_fdr(ndr_code=1), FdrReason.CUSTOMER_UNAVAILABLE),
        (_fdr(remarks="code verified cancellation"), FdrReason.OTP_CANCELLATION),
        (_fdr(ndr_description="Customer Refused"), FdrReason.REFUSED),
        (_fdr(remarks="Consignee address incomplete"), FdrReason.ADDRESS_ISSUE),
        (_fdr(remarks="customer phone not reachable"), FdrReason.CUSTOMER_UNREACHABLE),
        (_fdr(remarks="Customer asked for future delivery"), FdrReason.RESCHEDULED),
        (_fdr(remarks="ODA location"), FdrReason.ODA),
        (_fdr(remarks="COD amount not ready"), FdrReason.PAYMENT_ISSUE),
        (_fdr(remarks="Customer wants open delivery"), FdrReason.OPEN_DELIVERY),
    ],
)
def test_reasons_come_from_code_then_description_then_remarks(
    fdr: FailedDelivery, reason: FdrReason
) -> None:
    assert classify(fdr, RULES).reason is reason


def test_an_unknown_reason_keeps_the_raw_text() -> None:
    result = classify(_fdr(ndr_code=99, remarks="shipment misrouted"), RULES)
    assert result.reason is FdrReason.UNKNOWN
    assert "shipment misrouted" in result.matched
    assert "99" in result.matched


def test_item_lines_and_address_read_like_the_seed() -> None:
    fdr = _fdr(
        items=(Item("Red t-shirt", 1), Item("Qute 12 Air Cooler", 2)),
        shipping_address=Address(
            line1="114 Sainik vihar", line2="pitampura", city="Delhi", postal_code="110034"
        ),
    )
    assert fdr.item_count == 3
    assert fdr.item_lines() == "1 Red t-shirt, 2 Qute 12 Air Cooler"
    assert fdr.shipping_address.one_line() == "114 Sainik vihar, pitampura, Delhi - 110034"
