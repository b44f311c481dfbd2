"""The shipped templates at Meta: created on the business account once, and their review
status (``fdr-whatsapp templates push|status``; docs/templates.md)."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import TemplateCatalog, TemplateRegistry
from application.services import SenderResolver, SettingsReader
from domain.errors import Conflict, UpstreamRejected
from domain.settings import SenderConnection
from domain.templates import MetaTemplate, WaTemplate


@dataclass(frozen=True, slots=True)
class TemplateAtMeta:
    name: str
    language: str
    outcome: str  # created, exists, refused (push); found, missing (status)
    status: str = ""  # Meta's: PENDING, APPROVED, REJECTED, PAUSED, ...
    detail: str = ""


class _Account:
    def __init__(self, uow: UnitOfWork, settings: SettingsReader, senders: SenderResolver) -> None:
        self._uow = uow
        self._settings = settings
        self._senders = senders

    async def templates_and_sender(
        self, account_id: int
    ) -> tuple[list[WaTemplate], SenderConnection]:
        async with self._uow as uow:
            setting = await self._settings.get(uow, account_id)
            ours = await uow.templates.for_account(account_id)
        sender = await self._senders.for_setting(setting)
        return sorted(ours, key=lambda t: (t.template_name, t.language)), sender


def _by_name(found: list[MetaTemplate]) -> dict[tuple[str, str], MetaTemplate]:
    return {(t.name, t.language): t for t in found}


class PushTemplatesToMeta:
    """Creates the account's templates (for the default account: the shipped ones) on the
    business account it sends from; those Meta has already are left alone and reported."""

    def __init__(
        self,
        uow: UnitOfWork,
        settings: SettingsReader,
        senders: SenderResolver,
        catalog: TemplateCatalog,
        registry: TemplateRegistry,
    ) -> None:
        self._account = _Account(uow, settings, senders)
        self._catalog = catalog
        self._registry = registry

    async def __call__(self, account_id: int) -> list[TemplateAtMeta]:
        ours, sender = await self._account.templates_and_sender(account_id)
        self._catalog.invalidate(sender.waba_id)
        existing = _by_name(await self._catalog.templates(sender))
        results: list[TemplateAtMeta] = []
        for template in ours:
            key = (template.template_name, template.language)
            there = existing.get(key)
            if there is not None:
                results.append(TemplateAtMeta(*key, "exists", there.status))
                continue
            try:
                created = await self._registry.create(sender, template)
            except Conflict:
                results.append(TemplateAtMeta(*key, "exists"))
            except UpstreamRejected as exc:
                results.append(TemplateAtMeta(*key, "refused", detail=str(exc)))
            else:
                results.append(TemplateAtMeta(*key, "created", created.status))
        self._catalog.invalidate(sender.waba_id)
        return results


class ShowTemplatesAtMeta:
    """Each of the account's templates as Meta has it: its review status, or missing."""

    def __init__(
        self,
        uow: UnitOfWork,
        settings: SettingsReader,
        senders: SenderResolver,
        catalog: TemplateCatalog,
    ) -> None:
        self._account = _Account(uow, settings, senders)
        self._catalog = catalog

    async def __call__(self, account_id: int) -> list[TemplateAtMeta]:
        ours, sender = await self._account.templates_and_sender(account_id)
        self._catalog.invalidate(sender.waba_id)
        existing = _by_name(await self._catalog.templates(sender))
        results = []
        for template in ours:
            key = (template.template_name, template.language)
            there = existing.get(key)
            if there is None:
                results.append(TemplateAtMeta(*key, "missing"))
            else:
                results.append(TemplateAtMeta(*key, "found", there.status))
        return results
