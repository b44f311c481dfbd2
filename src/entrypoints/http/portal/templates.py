"""``/templates``: the workspace's WhatsApp templates (``wa_templates``) and their verification."""

from __future__ import annotations

from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka
from litestar import Controller, Request, delete, get, post, put
from litestar.openapi.spec import Example
from litestar.params import Body

from application.use_cases.portal.create_template import CreateTemplate
from application.use_cases.portal.delete_template import DeleteTemplate
from application.use_cases.portal.get_template import GetTemplate
from application.use_cases.portal.list_templates import ListTemplates
from application.use_cases.portal.update_template import UpdateTemplate
from application.use_cases.portal.verify_template import VerifyTemplate
from entrypoints.http.portal.body import strict_body
from entrypoints.http.portal.docs import AccountId, TemplateId, problems, success
from entrypoints.http.portal.template_views import (
    DECODER,
    DRAFT_EXAMPLE,
    VIEW_EXAMPLE,
    TemplateBody,
    TemplateView,
    template_view,
)

_DraftBody = Annotated[
    TemplateBody,
    Body(examples=[Example(summary="A template for OTP cancellations", value=DRAFT_EXAMPLE)]),
]


class TemplatesController(Controller):
    path = "/templates"
    tags = ["portal: templates"]  # noqa: RUF012

    @get(
        summary="The templates the workspace can choose from",
        description="The shipped defaults (`isDefault`, read-only) and the workspace's own.",
        responses={**success(list[TemplateView], "The templates", [VIEW_EXAMPLE]), **problems()},
    )
    async def list_templates(
        self,
        account_id: AccountId,
        templates: FromDishka[ListTemplates],
    ) -> list[TemplateView]:
        found = await templates(account_id)
        return [template_view(t) for t in found]

    @post(
        summary="Add a template",
        description=(
            "Unverified until `POST /templates/{template_id}/verify` finds it approved at Meta. "
            "The body's placeholders must match `variables`; button ids are the answers the "
            "conversation acts on. 409 when the name and language exist in the workspace."
        ),
        status_code=201,
        responses={
            **success(TemplateView, "The template", VIEW_EXAMPLE, 201),
            **problems(409, 422),
        },
    )
    async def create_template(
        self,
        account_id: AccountId,
        data: _DraftBody,
        request: Request[Any, Any, Any],
        create: FromDishka[CreateTemplate],
    ) -> TemplateView:
        data = await strict_body(request, DECODER)
        return template_view(await create(account_id, data.draft()))

    @get(
        "/{template_id:int}",
        summary="One template",
        responses={**success(TemplateView, "The template", VIEW_EXAMPLE), **problems(404)},
    )
    async def get_template(
        self,
        account_id: AccountId,
        template_id: TemplateId,
        template: FromDishka[GetTemplate],
    ) -> TemplateView:
        return template_view(await template(account_id, template_id))

    @put(
        "/{template_id:int}",
        summary="Change a template",
        description=(
            "Replaces the definition. A change Meta would see (name, language, body, variables, "
            "buttons) clears the verification; such a change to a template the settings use is "
            "refused (409) until the settings choose another one. Shipped defaults are "
            "read-only (403)."
        ),
        responses={
            **success(TemplateView, "The template", VIEW_EXAMPLE),
            **problems(404, 409, 422),
        },
    )
    async def update_template(
        self,
        account_id: AccountId,
        template_id: TemplateId,
        data: _DraftBody,
        request: Request[Any, Any, Any],
        update: FromDishka[UpdateTemplate],
    ) -> TemplateView:
        data = await strict_body(request, DECODER)
        updated = await update(account_id, template_id, data.draft())
        return template_view(updated)

    @delete(
        "/{template_id:int}",
        summary="Remove a template",
        description="409 while the settings use it; shipped defaults are read-only (403).",
        status_code=204,
        responses=problems(404, 409),
    )
    async def delete_template(
        self, account_id: AccountId, template_id: TemplateId, remove: FromDishka[DeleteTemplate]
    ) -> None:
        await remove(account_id, template_id)

    @post(
        "/{template_id:int}/verify",
        summary="Verify the template with Meta",
        description=(
            "Asks Meta's `message_templates` (of the workspace's sender) for a template of this "
            "name and language that is APPROVED, takes as many values as `variables` and has "
            "the same quick replies. Meta's list is cached for a few minutes (it allows 200 "
            "calls an hour per business account). 422 says which check failed in `check`: "
            "`not_found`, `language`, `status`, `variables`, `buttons` or `sender`."
        ),
        status_code=200,
        responses={
            **success(TemplateView, "The verified template", VIEW_EXAMPLE),
            **problems(404, 409, 422),
        },
    )
    async def verify_template(
        self,
        account_id: AccountId,
        template_id: TemplateId,
        verify: FromDishka[VerifyTemplate],
    ) -> TemplateView:
        return template_view(await verify(account_id, template_id))
