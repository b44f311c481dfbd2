"""Phone numbers as WhatsApp wants them: E.164 digits, India unless the number says otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from domain.errors import InvalidPhoneNumber

DEFAULT_REGION = "IN"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid number, kept as E.164 digits without the ``+`` (``917891971009``)."""

    digits: str

    @classmethod
    def parse(cls, raw: str, region: str = DEFAULT_REGION) -> PhoneNumber:
        text = raw.strip()
        if not text:
            raise InvalidPhoneNumber("empty phone number")
        # Numbers stored as "917891971009" (country code, no plus) are common in Indian
        # logistics data; phonenumbers reads them as national numbers unless told otherwise.
        digits_only = "".join(ch for ch in text if ch.isdigit())
        candidates = [text]
        if not text.startswith("+") and len(digits_only) > 10:
            candidates.append("+" + digits_only)
        for candidate in candidates:
            try:
                parsed = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                return cls(e164.lstrip("+"))
        raise InvalidPhoneNumber(f"not a valid phone number: {mask(text)}")

    @property
    def e164(self) -> str:
        return "+" + self.digits

    def masked(self) -> str:
        return mask(self.digits)

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"PhoneNumber({self.masked()!r})"


def mask(value: str | None) -> str:
    """All but the last four characters hidden: what logs and error texts may show of a number."""
    if not value:
        return ""
    keep = value[-4:]
    return "*" * max(len(value) - 4, 0) + keep


#: Ten or more digits, maybe split by single spaces or dashes: a phone number inside free text.
_NUMBER_IN_TEXT = re.compile(r"\+?(?:\d[ -]?){9,}\d")


def mask_numbers_in(text: str) -> str:
    """Free text (a shopper's answer, an upstream error) with every phone-like number masked."""
    return _NUMBER_IN_TEXT.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    hidden = 0
    masked = []
    for ch in found:
        if ch.isdigit() and hidden < digits - 4:
            masked.append("*")
            hidden += 1
        else:
            masked.append(ch)
    return "".join(masked)
