"""Phone numbers as WhatsApp wants them: E.164 digits, India unless the number says otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

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


class NumberProblem(StrEnum):
    """Why a number found in a shopper's answer cannot be their alternate number."""

    NOT_FOUND = "not_found"  # no valid phone number in the text at all
    ABROAD = "abroad"  # another country's number: the courier calls locally
    TOLL_FREE = "toll_free"  # a business's service line, not the shopper
    LANDLINE = "landline"  # takes calls but no WhatsApp
    NOT_MOBILE = "not_mobile"  # premium, shared-cost, VoIP, pager, ...


#: Kinds of number that can take the courier's call and our WhatsApp messages. libphonenumber
#: cannot tell mobiles from landlines in some countries (FIXED_LINE_OR_MOBILE); those pass.
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


@dataclass(frozen=True, slots=True)
class NumberInText:
    """The first acceptable number in a text, or why the first number found is not."""

    number: PhoneNumber | None = None
    problem: NumberProblem | None = None
    last_digits: str = ""  # of the refused number: the reply names it by these only
    country_code: int | None = None  # of the refused number


def mobile_number_in(text: str, region: str = DEFAULT_REGION) -> NumberInText:
    """A mobile number of ``region`` written anywhere in ``text`` ("call 98765 43210 after
    5pm", "+91 98765-43210"); numbers without a country code are read as ``region``'s."""
    refused: NumberInText | None = None
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        problem = _problem(match.number, region)
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if problem is None:
            return NumberInText(number=PhoneNumber(e164.lstrip("+")))
        if refused is None:
            refused = NumberInText(
                problem=problem, last_digits=e164[-4:], country_code=match.number.country_code
            )
    return refused or NumberInText(problem=NumberProblem.NOT_FOUND)


def _problem(number: phonenumbers.PhoneNumber, region: str) -> NumberProblem | None:
    if phonenumbers.region_code_for_number(number) != region:
        return NumberProblem.ABROAD
    kind = phonenumbers.number_type(number)
    if kind in _MOBILE_TYPES:
        return None
    if kind == phonenumbers.PhoneNumberType.TOLL_FREE:
        return NumberProblem.TOLL_FREE
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        return NumberProblem.LANDLINE
    return NumberProblem.NOT_MOBILE


@dataclass(frozen=True, slots=True)
class MobileExample:
    """How a mobile number of a region is written, for hints to shoppers."""

    national: str  # ``8123456789``: the digits people dial at home, without a trunk prefix
    international: str  # ``+91 81234 56789``
    country_code: int


def mobile_example(region: str) -> MobileExample:
    """Raises ``ValueError`` for a region libphonenumber knows no mobile numbers of."""
    example = (
        phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if region in phonenumbers.SUPPORTED_REGIONS
        else None
    )
    if example is None:
        raise ValueError(f"{region!r} is not a region code with mobile numbers, e.g. IN")
    return MobileExample(
        national=phonenumbers.national_significant_number(example),
        international=phonenumbers.format_number(
            example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ),
        country_code=phonenumbers.country_code_for_region(region),
    )


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
