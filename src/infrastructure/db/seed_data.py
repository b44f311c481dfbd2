"""The reason mapping and the default template per reason, as shipped (docs/reasons.md).

Versioned: a migration inserts one version; a later change is a new version and a new
migration, never an edit of a shipped one.
"""

from __future__ import annotations

from typing import Final, TypedDict


class RuleRow(TypedDict):
    source: str
    pattern: str
    reason: str
    priority: int


class TemplateRow(TypedDict):
    template_name: str
    language: str
    reason: str | None  # None: not for a reason (the reminder)
    description: str
    template_body: str
    variables: list[str]
    buttons: list[dict[str, str]]


def _text(pattern: str, reason: str, priority: int = 100) -> RuleRow:
    return {"source": "text", "pattern": pattern, "reason": reason, "priority": priority}


def _code(code: int, reason: str) -> RuleRow:
    return {"source": "ndr_code", "pattern": str(code), "reason": reason, "priority": 100}


RULES_V1: Final[list[RuleRow]] = [
    # ClickPost NDR codes seen in our events; descriptions below catch the rest.
    _code(1, "customer_unavailable"),
    _code(14, "otp_cancellation"),
    # More specific phrases first (lower priority number wins).
    _text("otp based cancellation", "otp_cancellation", 10),
    _text("code verified cancellation", "otp_cancellation", 10),
    _text("otp verified cancellation", "otp_cancellation", 10),
    _text("open delivery", "open_delivery", 20),
    _text("wants to open", "open_delivery", 20),
    _text("out of delivery area", "oda", 20),
    _text("oda", "oda", 30),
    _text("non serviceable", "oda", 30),
    _text("not serviceable", "oda", 30),
    _text("cod amount not ready", "payment_issue", 30),
    _text("payment issue", "payment_issue", 30),
    _text("cash not ready", "payment_issue", 30),
    _text("amount not ready", "payment_issue", 40),
    _text("future delivery", "rescheduled", 30),
    _text("rescheduled", "rescheduled", 40),
    _text("reschedule", "rescheduled", 40),
    _text("delivery later", "rescheduled", 40),
    _text("refused", "refused", 40),
    _text("rejected", "refused", 40),
    _text("not interested", "refused", 50),
    _text("address incomplete", "address_issue", 40),
    _text("incomplete address", "address_issue", 40),
    _text("incorrect address", "address_issue", 40),
    _text("address incorrect", "address_issue", 40),
    _text("wrong address", "address_issue", 40),
    _text("address not found", "address_issue", 40),
    _text("address issue", "address_issue", 40),
    _text("unreachable", "customer_unreachable", 50),
    _text("not reachable", "customer_unreachable", 50),
    _text("not answering", "customer_unreachable", 50),
    _text("phone switched off", "customer_unreachable", 50),
    _text("not responding", "customer_unreachable", 50),
    _text("customer unavailable", "customer_unavailable", 60),
    _text("customer not available", "customer_unavailable", 60),
    _text("not available", "customer_unavailable", 70),
    _text("door locked", "customer_unavailable", 70),
    _text("cancellation", "otp_cancellation", 80),
    _text("cancelled", "otp_cancellation", 80),
]

_COMMON_HEAD = ["first_name", "brand", "order_number", "item_count"]
_COMMON_TAIL = ["item_lines", "tracking_link"]
_ITEMS_AND_LINK = "Item(s) included in the order: {{%d}}\n\nTrack your order: {{%d}}\n\n"
_CHOOSE = "Please choose your desired action"


def _button(button_id: str, title: str) -> dict[str, str]:
    return {"id": button_id, "title": title}


REATTEMPT = _button("reattempt", "Reattempt delivery")
ALT_NUMBER = _button("alt_number", "Alternate number")
CANCEL = _button("cancel", "Cancel order")
UPDATE_ADDRESS = _button("update_address", "Update address")
NOT_REFUSED = _button("not_refused", "I didn't refuse")
CHOOSE_DATE = _button("choose_date", "Choose new date")
PAY_ONLINE = _button("pay_online", "Pay online")
NOT_CANCELLED = _button("not_cancelled", "I didn't cancel")
CONFIRM_CANCEL = _button("confirm_cancel", "Confirm cancel")
SUPPORT = _button("support", "Talk to support")


def _template(
    reason: str,
    description: str,
    why: str,
    extra: list[str],
    buttons: list[dict[str, str]],
    after_why: str = "",
) -> TemplateRow:
    """A body in the seed's words: greeting, why it failed, the items, the link, the ask."""
    n = len(_COMMON_HEAD) + len(extra)
    body = (
        "Hello {{1}}!\n\nYour {{2}} order ID {{3}} having {{4}} items couldn't be delivered"
        + ("" if why.startswith(".") else " ")
        + why
        + "\n\n"
        + after_why
        + _ITEMS_AND_LINK % (n + 1, n + 2)
        + _CHOOSE
    )
    return {
        "template_name": f"fdr_{reason}",
        "language": "en",
        "reason": reason,
        "description": description,
        "template_body": body,
        "variables": _COMMON_HEAD + extra + _COMMON_TAIL,
        "buttons": buttons,
    }


TEMPLATES_V1: Final[list[TemplateRow]] = [
    _template(
        "customer_unreachable",
        "Customer Unreachable",
        "as your number ({{5}}) was unreachable. Please provide an alternate contact number "
        "for better connectivity.",
        ["customer_phone"],
        [REATTEMPT, ALT_NUMBER, CANCEL],
    ),
    _template(
        "address_issue",
        "Address Issue",
        "as the address provided by you is incomplete or incorrect. Please update your "
        "delivery address.",
        ["delivery_address"],
        [UPDATE_ADDRESS, REATTEMPT, CANCEL],
        after_why="Delivery address: {{5}}\n\n",
    ),
    _template(
        "refused",
        "Rejected by the Customer",
        "as you refused to accept it.",
        [],
        [REATTEMPT, NOT_REFUSED, CANCEL],
    ),
    _template(
        "customer_unavailable",
        "Customer unavailable",
        "as you were not available at the time of delivery.",
        [],
        [CHOOSE_DATE, REATTEMPT, CANCEL],
    ),
    _template(
        "rescheduled",
        "Delivery rescheduled",
        "as you requested a future delivery.",
        [],
        [CHOOSE_DATE, CANCEL],
    ),
    _template(
        "oda",
        "ODA (out of delivery area)",
        "as your delivery address is not within the serviceable area.",
        [],
        [UPDATE_ADDRESS, CANCEL],
    ),
    _template(
        "payment_issue",
        "Payment Issue",
        "due to a payment issue.",
        ["amount_due"],
        [REATTEMPT, PAY_ONLINE, CANCEL],
        after_why="Amount to be paid - Rs {{5}}\n\n",
    ),
    _template(
        "otp_cancellation",
        "OTP based cancellation",
        "as you requested to cancel this order.",
        [],
        [NOT_CANCELLED, CONFIRM_CANCEL],
    ),
    _template(
        "open_delivery",
        "Open Delivery",
        ". We would like to clarify that we do not support open delivery, but we assure you "
        "that the product will be in good condition. If you encounter any issues with your "
        "order, please contact our customer support team at {{5}} or via email at {{6}}.",
        ["support_phone", "support_email"],
        [REATTEMPT, SUPPORT, CANCEL],
    ),
]


# Version 2 (migration 0006): the same templates in Hindi (language "hi"), same names,
# variables and button ids, so an answer reads the same whatever the language
# (docs/languages.md).
def _hindi(
    reason: str, why: str, extra: list[str], buttons: list[dict[str, str]], after_why: str = ""
) -> TemplateRow:
    english = next(t for t in TEMPLATES_V1 if t["reason"] == reason)
    n = len(_COMMON_HEAD) + len(extra)
    body = (
        "नमस्ते {{1}}!\n\nआपका {{2}} ऑर्डर (ID {{3}}, {{4}} आइटम) डिलीवर नहीं हो सका, "
        + why
        + "\n\n"
        + after_why
        + f"ऑर्डर में शामिल आइटम: {{{{{n + 1}}}}}\n\nअपना ऑर्डर ट्रैक करें: {{{{{n + 2}}}}}\n\n"
        + "कृपया बताएं कि आप क्या करना चाहते हैं"
    )
    assert english["variables"] == _COMMON_HEAD + extra + _COMMON_TAIL
    assert [b["id"] for b in english["buttons"]] == [b["id"] for b in buttons]
    return {**english, "language": "hi", "template_body": body, "buttons": buttons}


REATTEMPT_HI = _button("reattempt", "दोबारा डिलीवरी करें")
ALT_NUMBER_HI = _button("alt_number", "दूसरा नंबर दें")
CANCEL_HI = _button("cancel", "ऑर्डर रद्द करें")
UPDATE_ADDRESS_HI = _button("update_address", "पता अपडेट करें")
NOT_REFUSED_HI = _button("not_refused", "मैंने मना नहीं किया")
CHOOSE_DATE_HI = _button("choose_date", "नई तारीख चुनें")
PAY_ONLINE_HI = _button("pay_online", "ऑनलाइन भुगतान करें")
NOT_CANCELLED_HI = _button("not_cancelled", "मैंने रद्द नहीं किया")
CONFIRM_CANCEL_HI = _button("confirm_cancel", "हां, रद्द करें")
SUPPORT_HI = _button("support", "सपोर्ट से बात करें")

TEMPLATES_HI_V2: Final[list[TemplateRow]] = [
    _hindi(
        "customer_unreachable",
        "क्योंकि आपका नंबर ({{5}}) पहुंच से बाहर था। बेहतर संपर्क के लिए कृपया कोई दूसरा नंबर दें।",
        ["customer_phone"],
        [REATTEMPT_HI, ALT_NUMBER_HI, CANCEL_HI],
    ),
    _hindi(
        "address_issue",
        "क्योंकि आपका दिया हुआ पता अधूरा या गलत है। कृपया अपना डिलीवरी पता अपडेट करें।",
        ["delivery_address"],
        [UPDATE_ADDRESS_HI, REATTEMPT_HI, CANCEL_HI],
        after_why="डिलीवरी पता: {{5}}\n\n",
    ),
    _hindi(
        "refused",
        "क्योंकि आपने इसे लेने से मना कर दिया।",
        [],
        [REATTEMPT_HI, NOT_REFUSED_HI, CANCEL_HI],
    ),
    _hindi(
        "customer_unavailable",
        "क्योंकि डिलीवरी के समय आप उपलब्ध नहीं थे।",
        [],
        [CHOOSE_DATE_HI, REATTEMPT_HI, CANCEL_HI],
    ),
    _hindi(
        "rescheduled",
        "क्योंकि आपने बाद की तारीख पर डिलीवरी मांगी थी।",
        [],
        [CHOOSE_DATE_HI, CANCEL_HI],
    ),
    _hindi(
        "oda",
        "क्योंकि आपका डिलीवरी पता हमारे सेवा क्षेत्र में नहीं आता।",
        [],
        [UPDATE_ADDRESS_HI, CANCEL_HI],
    ),
    _hindi(
        "payment_issue",
        "क्योंकि भुगतान में समस्या थी।",
        ["amount_due"],
        [REATTEMPT_HI, PAY_ONLINE_HI, CANCEL_HI],
        after_why="भुगतान की राशि - Rs {{5}}\n\n",
    ),
    _hindi(
        "otp_cancellation",
        "क्योंकि आपने यह ऑर्डर रद्द करने का अनुरोध किया था।",
        [],
        [NOT_CANCELLED_HI, CONFIRM_CANCEL_HI],
    ),
    _hindi(
        "open_delivery",
        "क्योंकि पैकेट खोलकर डिलीवरी (ओपन डिलीवरी) की सुविधा हम नहीं देते। हम भरोसा दिलाते हैं कि "
        "सामान अच्छी हालत में होगा। ऑर्डर में कोई भी समस्या हो तो हमारी कस्टमर सपोर्ट टीम से "
        "{{5}} पर या ईमेल {{6}} पर संपर्क करें।",
        ["support_phone", "support_email"],
        [REATTEMPT_HI, SUPPORT_HI, CANCEL_HI],
    ),
]

#: The reminder's template name: sent once to a shopper who has not answered (docs/scheduler.md).
REMINDER_TEMPLATE = "fdr_reminder"

# Version 3 (migration 0007): the reminder, in English and Hindi. No buttons: the shopper
# answers with those of the first message, which stay valid, or in their own words.
TEMPLATES_REMINDER_V3: Final[list[TemplateRow]] = [
    {
        "template_name": REMINDER_TEMPLATE,
        "language": "en",
        "reason": None,
        "description": "Reminder to a shopper who has not answered the failed delivery message",
        "template_body": (
            "Hello {{1}}, a reminder about your {{2}} order ID {{3}}: we could not deliver it "
            "and the courier will try again soon.\n\nPlease choose an option in our earlier "
            "message, or reply here, so that we can deliver it the way you want.\n\n"
            "Track your order: {{4}}"
        ),
        "variables": ["first_name", "brand", "order_number", "tracking_link"],
        "buttons": [],
    },
    {
        "template_name": REMINDER_TEMPLATE,
        "language": "hi",
        "reason": None,
        "description": "Reminder to a shopper who has not answered the failed delivery message",
        "template_body": (
            "नमस्ते {{1}}, आपके {{2}} ऑर्डर (ID {{3}}) के बारे में याद दिला रहे हैं: यह डिलीवर नहीं "
            "हो सका और कूरियर जल्द ही फिर से कोशिश करेगा।\n\nकृपया हमारे पिछले संदेश में कोई विकल्प "
            "चुनें या यहां जवाब दें, ताकि हम इसे आपकी पसंद के अनुसार डिलीवर कर सकें।\n\n"
            "अपना ऑर्डर ट्रैक करें: {{4}}"
        ),
        "variables": ["first_name", "brand", "order_number", "tracking_link"],
        "buttons": [],
    },
]

#: Every shipped template version, oldest first (the sandbox loads them all).
SHIPPED_TEMPLATES: Final[list[TemplateRow]] = TEMPLATES_V1 + TEMPLATES_HI_V2 + TEMPLATES_REMINDER_V3
