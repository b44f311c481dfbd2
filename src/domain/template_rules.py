"""What a workspace's template must satisfy before it is stored: Meta's rules and our flows'."""

from __future__ import annotations

import re

from domain.flows import ANSWERS
from domain.reasons import FdrReason
from domain.templates import (
    BODY_MAX,
    BUTTON_TITLE_MAX,
    WaTemplate,
    placeholder_count,
    placeholder_numbers,
)

#: Meta allows 512 characters; ``wa_templates.template_name`` holds 255.
NAME_MAX = 255
NAME_PATTERN = rf"^[a-z0-9_]{{1,{NAME_MAX}}}$"
#: ``en``, ``fil``, ``en_US``, ``pt_BR``: Meta's language codes.
LANGUAGE_PATTERN = r"^[a-z]{2,3}(_[A-Z]{2})?$"
DESCRIPTION_MAX = 255
MAX_BUTTONS = 3

#: The answers a quick-reply button may carry: the flow knows what to do with each.
BUTTON_IDS = tuple(ANSWERS)


def template_problems(template: WaTemplate) -> dict[str, str]:
    """Every field that is wrong, with what is wrong with it; empty when the template is fine."""
    errors: dict[str, str] = {}
    if not re.fullmatch(NAME_PATTERN, template.template_name):
        errors["name"] = f"must be 1..{NAME_MAX} lower-case letters, digits or underscores"
    if not re.fullmatch(LANGUAGE_PATTERN, template.language):
        errors["language"] = "must be a language code like en or en_US"
    if len(template.description) > DESCRIPTION_MAX:
        errors["description"] = f"must be at most {DESCRIPTION_MAX} characters"
    if template.reason is FdrReason.UNKNOWN:
        errors["reason"] = "must be one of the known reasons (or null for any)"
    body_problem = _body_problem(template)
    if body_problem is not None:
        errors["body"] = body_problem
    elif (count := placeholder_count(template.template_body)) != len(template.variables):
        errors["variables"] = (
            f"the body has {count} placeholders, {len(template.variables)} variables given"
        )
    errors.update(_button_problems(template))
    return errors


def _body_problem(template: WaTemplate) -> str | None:
    body = template.template_body
    if not body.strip():
        return "must not be empty"
    if len(body) > BODY_MAX:
        return f"must be at most {BODY_MAX} characters"
    numbers = placeholder_numbers(body)
    if numbers and numbers != set(range(1, len(numbers) + 1)):
        return "placeholders must be numbered {{1}}, {{2}}, ... without gaps"
    return None


def _button_problems(template: WaTemplate) -> dict[str, str]:
    buttons = template.buttons
    if len(buttons) > MAX_BUTTONS:
        return {"buttons": f"at most {MAX_BUTTONS} quick-reply buttons"}
    errors: dict[str, str] = {}
    for index, button in enumerate(buttons):
        if button.id not in ANSWERS:
            errors[f"buttons[{index}].id"] = f"must be one of {', '.join(BUTTON_IDS)}"
        if not 1 <= len(button.title) <= BUTTON_TITLE_MAX or not button.title.strip():
            errors[f"buttons[{index}].title"] = f"must be 1..{BUTTON_TITLE_MAX} characters"
    if len({b.id for b in buttons}) < len(buttons):
        errors.setdefault("buttons", "button ids must be unique")
    if len({b.title for b in buttons}) < len(buttons):
        errors.setdefault("buttons", "button titles must be unique")
    return errors


def same_for_meta(a: WaTemplate, b: WaTemplate) -> bool:
    """True when Meta would see no difference: a verification of one holds for the other."""
    return (
        a.template_name == b.template_name
        and a.language == b.language
        and a.template_body == b.template_body
        and a.variables == b.variables
        and a.buttons == b.buttons
    )
