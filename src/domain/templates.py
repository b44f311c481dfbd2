"""Template definitions (``wa_templates``) and the checks that keep Meta from answering 132000."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.errors import TemplateMismatch
from domain.messages import QuickReply, TemplateMessage
from domain.reasons import FdrReason

_POSITIONAL = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_NAMED = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")

#: Meta's limits (docs/meta.md#sends).
BODY_MAX = 1024
PARAMETER_MAX = 32768
BUTTON_TITLE_MAX = 20
BUTTON_PAYLOAD_MAX = 256


class TemplateVariable(StrEnum):
    """Values a template body can take from a failed delivery, by name."""

    FIRST_NAME = "first_name"
    BRAND = "brand"
    ORDER_NUMBER = "order_number"
    ITEM_COUNT = "item_count"
    ITEM_LINES = "item_lines"
    TRACKING_LINK = "tracking_link"
    CUSTOMER_PHONE = "customer_phone"
    DELIVERY_ADDRESS = "delivery_address"
    AMOUNT_DUE = "amount_due"
    SUPPORT_PHONE = "support_phone"
    SUPPORT_EMAIL = "support_email"
    COURIER = "courier"
    TRACKING_ID = "tracking_id"


@dataclass(slots=True, kw_only=True)
class WaTemplate:
    """A row of ``wa_templates``: a Meta template, the variables it takes, its quick replies."""

    id: int | None = None
    account_id: int  # the workspace that owns it (the default account for shipped defaults)
    template_name: str
    language: str = "en"
    template_body: str = ""
    variables: tuple[TemplateVariable, ...] = ()
    description: str = ""
    reason: FdrReason | None = None
    buttons: tuple[QuickReply, ...] = ()
    verified_at: datetime | None = None
    meta_template_id: str | None = None
    # The WhatsApp Business Account it was verified on: Meta knows a template on that one only.
    verified_waba_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def verified_elsewhere(self, waba_id: str | None) -> bool:
        """Verified on another business account than ``waba_id`` (Meta would refuse it there
        with 132001); a template verified before accounts were recorded is not held against."""
        return bool(self.verified_waba_id and waba_id and self.verified_waba_id != waba_id)

    def placeholder_count(self) -> int:
        return placeholder_count(self.template_body)

    def render(
        self, values: dict[TemplateVariable, str], payloads: tuple[str, ...]
    ) -> TemplateMessage:
        """The send request for this template, checked before Meta sees it."""
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise TemplateMismatch(f"no value for {', '.join(missing)}")
        parameters = tuple(values[v] for v in self.variables)
        check_parameters(self.template_body, parameters)
        if len(payloads) != len(self.buttons):
            raise TemplateMismatch(
                f"{self.template_name} has {len(self.buttons)} buttons, "
                f"got {len(payloads)} payloads"
            )
        for payload in payloads:
            if not payload or len(payload) > BUTTON_PAYLOAD_MAX:
                raise TemplateMismatch(f"button payload must be 1..{BUTTON_PAYLOAD_MAX} characters")
        return TemplateMessage(
            name=self.template_name,
            language=self.language,
            body_parameters=parameters,
            button_payloads=payloads,
        )


def filled(body: str, variables: tuple[TemplateVariable, ...], parameters: tuple[str, ...]) -> str:
    """``body`` as the shopper read it: ``{{n}}`` is the n-th value, ``{{name}}`` the value of
    that variable; a placeholder without a value stays as written."""

    def positional(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return parameters[index] if 0 <= index < len(parameters) else match.group(0)

    def named(match: re.Match[str]) -> str:
        names = [v.value for v in variables]
        name = match.group(1)
        if name in names and names.index(name) < len(parameters):
            return parameters[names.index(name)]
        return match.group(0)

    return _NAMED.sub(named, _POSITIONAL.sub(positional, body))


def placeholder_numbers(text: str) -> set[int]:
    """The distinct ``{{n}}`` indices of a positional body."""
    return {int(m) for m in _POSITIONAL.findall(text)}


def placeholder_count(text: str) -> int:
    """How many values a body takes: distinct ``{{n}}`` indices, or distinct ``{{name}}`` names."""
    positional = placeholder_numbers(text)
    if positional:
        return len(positional)
    return len(set(_NAMED.findall(text)))


def check_parameters(body: str, parameters: tuple[str, ...]) -> None:
    expected = placeholder_count(body)
    if body and expected != len(parameters):
        raise TemplateMismatch(f"template takes {expected} values, got {len(parameters)}")
    for index, value in enumerate(parameters, start=1):
        if not value.strip():
            raise TemplateMismatch(f"value {index} is empty (Meta rejects empty parameters)")
        if len(value) > PARAMETER_MAX:
            raise TemplateMismatch(f"value {index} is longer than {PARAMETER_MAX} characters")
        if "\n" in value or "\t" in value or "    " in value:
            # Meta refuses parameters with new lines, tabs or more than 4 spaces (132000 family).
            raise TemplateMismatch(f"value {index} holds a new line, a tab or 4 spaces in a row")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaTemplate:
    """A template as Meta's ``message_templates`` lists it."""

    id: str
    name: str
    language: str
    status: str
    category: str = ""
    body: str = ""
    body_parameter_count: int = 0
    quick_replies: tuple[str, ...] = field(default_factory=tuple)
