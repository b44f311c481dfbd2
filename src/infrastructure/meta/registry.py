"""Creating templates at Meta: ``POST /{version}/{waba-id}/message_templates`` (docs/templates.md).

Meta reviews each new template (PENDING, then APPROVED or REJECTED) and asks for an example
value of every ``{{n}}`` in the body; ours are taken from the variable each placeholder holds.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from domain.errors import Conflict, NotConfigured, UpstreamRejected, UpstreamUnavailable
from domain.settings import SenderConnection
from domain.templates import MetaTemplate, TemplateVariable, WaTemplate, placeholder_count
from infrastructure.meta.errors import error_title, parse_error

#: What Meta answers when the name already exists in that language.
DUPLICATE_SUBCODE = 2388024
CATEGORY = "UTILITY"

#: Example values Meta shows its reviewers, one per variable a placeholder may hold.
EXAMPLES: dict[TemplateVariable, str] = {
    TemplateVariable.FIRST_NAME: "Aman",
    TemplateVariable.BRAND: "Scitron",
    TemplateVariable.ORDER_NUMBER: "4980116095129",
    TemplateVariable.ITEM_COUNT: "1",
    TemplateVariable.ITEM_LINES: "1 Advance Whey Protein",
    TemplateVariable.TRACKING_LINK: "https://track.example.com/17148471",
    TemplateVariable.CUSTOMER_PHONE: "9876543210",
    TemplateVariable.DELIVERY_ADDRESS: "12 MG Road, Bengaluru 560001",
    TemplateVariable.AMOUNT_DUE: "888",
    TemplateVariable.SUPPORT_PHONE: "+91-9876543210",
    TemplateVariable.SUPPORT_EMAIL: "support@example.com",
    TemplateVariable.COURIER: "Delhivery",
    TemplateVariable.TRACKING_ID: "SF123456789",
}


class _Created(msgspec.Struct, frozen=True):
    id: str | int
    status: str = "PENDING"
    category: str = CATEGORY


class _Subcode(msgspec.Struct, frozen=True):
    error_subcode: int | None = None


class _SubcodeBody(msgspec.Struct, frozen=True):
    error: _Subcode


def template_request(template: WaTemplate) -> dict[str, Any]:
    """The creation request Meta documents, for one of our templates."""
    body: dict[str, Any] = {"type": "BODY", "text": template.template_body}
    count = placeholder_count(template.template_body)
    if count:
        values = [EXAMPLES.get(v, "example") for v in template.variables[:count]]
        values += ["example"] * (count - len(values))
        body["example"] = {"body_text": [values]}
    components: list[dict[str, Any]] = [body]
    if template.buttons:
        components.append(
            {
                "type": "BUTTONS",
                "buttons": [{"type": "QUICK_REPLY", "text": b.title} for b in template.buttons],
            }
        )
    return {
        "name": template.template_name,
        "language": template.language,
        "category": CATEGORY,
        "components": components,
    }


class MetaTemplateRegistry:
    def __init__(self, client: httpx.AsyncClient, *, graph_url: str, api_version: str) -> None:
        self._client = client
        self._base = f"{graph_url.rstrip('/')}/{api_version}"

    async def create(self, sender: SenderConnection, template: WaTemplate) -> MetaTemplate:
        url = f"{self._base}/{sender.waba_id}/message_templates"
        try:
            response = await self._client.post(
                url,
                json=template_request(template),
                headers={"Authorization": f"Bearer {sender.access_token}"},
            )
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"Graph API unreachable ({type(exc).__name__})") from exc
        if response.is_success:
            try:
                created = msgspec.json.decode(response.content, type=_Created)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UpstreamUnavailable("Graph API answer to the creation is unreadable") from exc
            return MetaTemplate(
                id=str(created.id),
                name=template.template_name,
                language=template.language,
                status=created.status,
                category=created.category,
                body=template.template_body,
            )
        error = parse_error(response.content)
        why = (
            error_title(error, (sender.access_token,)) if error else f"HTTP {response.status_code}"
        )
        if _subcode(response.content) == DUPLICATE_SUBCODE:
            raise Conflict(f"{template.template_name} ({template.language}) exists at Meta")
        if response.status_code >= 500 or response.status_code == 429:
            raise UpstreamUnavailable(f"Graph API: {why}")
        raise UpstreamRejected(f"Meta refused the template: {why}")


class SandboxTemplateRegistry:
    """Nothing is created in sandbox mode: there is no business account."""

    async def create(self, sender: SenderConnection, template: WaTemplate) -> MetaTemplate:
        raise NotConfigured("sandbox mode: set the four WA_META_* credentials to reach Meta")


def _subcode(content: bytes) -> int | None:
    try:
        return msgspec.json.decode(content, type=_SubcodeBody).error.error_subcode
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
