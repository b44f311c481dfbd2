"""Templates as the portal writes and reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from application.use_cases.portal._templates import PortalTemplate, TemplateDraft
from domain.messages import QuickReply
from domain.reasons import FdrReason
from domain.template_rules import (
    BUTTON_IDS,
    DESCRIPTION_MAX,
    LANGUAGE_PATTERN,
    MAX_BUTTONS,
    NAME_PATTERN,
)
from domain.templates import BODY_MAX, BUTTON_TITLE_MAX, TemplateVariable

_BUTTON_ID_PATTERN = "^(" + "|".join(BUTTON_IDS) + ")$"

DRAFT_EXAMPLE = {
    "name": "brand_otp_cancellation",
    "language": "en_US",
    "body": "Hi {{1}}, your {{2}} order {{3}} was cancelled at the door. Was that you?",
    "variables": ["first_name", "brand", "order_number"],
    "description": "OTP based cancellation, our wording",
    "reason": "otp_cancellation",
    "buttons": [
        {"id": "not_cancelled", "title": "I didn't cancel"},
        {"id": "confirm_cancel", "title": "Confirm cancel"},
    ],
}
VIEW_EXAMPLE = {
    "id": 42,
    **DRAFT_EXAMPLE,
    "isDefault": False,
    "isVerified": True,
    "verifiedAt": "2026-11-20T10:30:15Z",
    "metaTemplateId": "1234567890123456",
    "createdAt": "2026-11-20T10:00:00Z",
    "updatedAt": "2026-11-20T10:30:15Z",
}


class ButtonBody(msgspec.Struct, frozen=True, kw_only=True):
    """A quick-reply button: ``id`` is the answer the flow acts on, ``title`` what Meta shows."""

    id: Annotated[str, msgspec.Meta(pattern=_BUTTON_ID_PATTERN, description="The answer.")]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=BUTTON_TITLE_MAX)]


class TemplateBody(msgspec.Struct, frozen=True, kw_only=True):
    """A template as approved by Meta, and the values it takes from a failed delivery."""

    name: Annotated[
        str, msgspec.Meta(pattern=NAME_PATTERN, description="The template's name at Meta.")
    ]
    language: Annotated[
        str, msgspec.Meta(pattern=LANGUAGE_PATTERN, description="Meta's language code.")
    ]
    body: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=BODY_MAX,
            description="The body text with placeholders {{1}}, {{2}}, ...",
        ),
    ]
    variables: Annotated[
        list[TemplateVariable],
        msgspec.Meta(max_length=100, description="The value of each placeholder, in order."),
    ] = msgspec.field(default_factory=list)
    description: Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX)] = ""
    reason: Annotated[
        FdrReason | None,
        msgspec.Meta(description="The reason it is written for; null: usable for any reason."),
    ] = None
    buttons: Annotated[list[ButtonBody], msgspec.Meta(max_length=MAX_BUTTONS)] = msgspec.field(
        default_factory=list
    )

    def draft(self) -> TemplateDraft:
        return TemplateDraft(
            name=self.name,
            language=self.language,
            body=self.body,
            variables=tuple(self.variables),
            description=self.description,
            reason=self.reason,
            buttons=tuple(QuickReply(b.id, b.title) for b in self.buttons),
        )


class TemplateView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    id: int
    name: str
    language: str
    body: str
    variables: list[TemplateVariable]
    description: str
    reason: FdrReason | None
    buttons: list[ButtonBody]
    is_default: bool  # a shipped default: read-only, usable without verification
    is_verified: bool
    verified_at: datetime | None
    meta_template_id: str | None
    created_at: datetime | None
    updated_at: datetime | None


DECODER = msgspec.json.Decoder(TemplateBody)


def template_view(shown: PortalTemplate) -> TemplateView:
    template = shown.template
    assert template.id is not None
    return TemplateView(
        id=template.id,
        name=template.template_name,
        language=template.language,
        body=template.template_body,
        variables=list(template.variables),
        description=template.description,
        reason=template.reason,
        buttons=[ButtonBody(id=b.id, title=b.title) for b in template.buttons],
        is_default=shown.is_default,
        is_verified=template.is_verified,
        verified_at=template.verified_at,
        meta_template_id=template.meta_template_id,
        created_at=template.created_at,
        updated_at=template.updated_at,
    )
