"""Templates and workspace settings: the portal's writes, the worker's reads."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from domain.errors import Conflict
from domain.messages import QuickReply
from domain.reasons import FdrReason
from domain.settings import ChannelSetting
from domain.templates import TemplateVariable, WaTemplate
from tests.conftest import DEFAULT_ACCOUNT_ID, UowFactory, new_id
from tests.support.factories import T0


def _template(account_id: int, name: str = "fdr_custom") -> WaTemplate:
    return WaTemplate(
        account_id=account_id,
        template_name=name,
        language="en_US",
        template_body="Hello {{1}}, order {{2}}",
        variables=(TemplateVariable.FIRST_NAME, TemplateVariable.ORDER_NUMBER),
        description="custom",
        reason=FdrReason.REFUSED,
        buttons=(QuickReply("reattempt", "Reattempt delivery"), QuickReply("cancel", "Cancel")),
        verified_waba_id="102290129340398",
        created_at=T0,
        updated_at=T0,
    )


async def test_the_shipped_default_template_exists_for_every_reason(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        defaults = {
            r: await uow.templates.default_for(DEFAULT_ACCOUNT_ID, r) for r in FdrReason.known()
        }
    for reason, template in defaults.items():
        assert template is not None, reason
        assert template.reason is reason
        assert template.placeholder_count() == len(template.variables)
        assert len(template.buttons) in (1, 2, 3)


async def test_the_shipped_reason_rules_are_there(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        rules = await uow.reason_rules.all()
    assert {r.reason for r in rules} == set(FdrReason.known())


async def test_template_crud(uow_factory: UowFactory) -> None:
    account = new_id()
    async with uow_factory() as uow:
        stored = await uow.templates.add(_template(account))
        await uow.commit()
    assert stored.id is not None
    async with uow_factory() as uow:
        found = await uow.templates.get(stored.id)
        assert found == stored
        renamed = dataclasses.replace(stored, template_body="Hi {{1}}", updated_at=T0)
        await uow.templates.update(renamed)
        await uow.commit()
    async with uow_factory() as uow:
        assert [t.template_body for t in await uow.templates.for_account(account)] == ["Hi {{1}}"]
        assert await uow.templates.delete(stored.id) is True
        assert await uow.templates.delete(stored.id) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.templates.get(stored.id) is None


async def test_templates_are_found_by_the_meta_template_they_were_verified_as(
    uow_factory: UowFactory,
) -> None:
    meta_id = str(new_id())
    async with uow_factory() as uow:
        first = await uow.templates.add(
            dataclasses.replace(_template(new_id()), verified_at=T0, meta_template_id=meta_id)
        )
        second = await uow.templates.add(
            dataclasses.replace(_template(new_id()), meta_template_id=meta_id)
        )
        await uow.templates.add(_template(new_id()))
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.templates.verified_as(meta_id)
        assert [t.id for t in found] == [first.id, second.id]
        assert found[0] == first
        assert await uow.templates.verified_as(str(new_id())) == []


async def test_a_template_name_and_language_is_unique_per_account(
    uow_factory: UowFactory,
) -> None:
    account = new_id()
    async with uow_factory() as uow:
        await uow.templates.add(_template(account))
        with pytest.raises(Conflict):
            await uow.templates.add(_template(account))
        other = await uow.templates.add(_template(new_id()))
        await uow.commit()
    assert other.id is not None


async def test_a_workspace_without_settings_has_none(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.settings.get(new_id()) is None


async def test_settings_are_saved_and_replaced(uow_factory: UowFactory) -> None:
    account = new_id()
    first = ChannelSetting(
        account_id=account,
        whatsapp_enabled=True,
        sender_connection_id=482,
        templates={FdrReason.REFUSED: 11, FdrReason.ODA: 12},
    )
    second = ChannelSetting(account_id=account, whatsapp_enabled=False, sender_connection_id=None)
    async with uow_factory() as uow:
        await uow.settings.save(first)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.settings.get(account) == first
        await uow.settings.save(second)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.settings.get(account) == second


async def test_the_cap_is_read_with_the_settings_row_locked_until_the_transaction_ends(
    uow_factory: UowFactory,
) -> None:
    """``lock_cap``: the cap as committed (none without a cap or without settings), and a
    second transaction's ``lock_cap`` waits for the first to end, then reads what it
    committed (docs/cost.md, "The monthly cap")."""
    capped, uncapped = new_id(), new_id()
    async with uow_factory() as uow:
        await uow.settings.save(ChannelSetting(account_id=capped, monthly_template_cap=3))
        await uow.settings.save(ChannelSetting(account_id=uncapped))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.settings.lock_cap(uncapped) is None
        assert await uow.settings.lock_cap(new_id()) is None

    async def second() -> int | None:
        async with uow_factory() as uow:
            return await uow.settings.lock_cap(capped)

    async with uow_factory() as first:
        assert await first.settings.lock_cap(capped) == 3
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # the row is the first transaction's
        await first.settings.save(ChannelSetting(account_id=capped, monthly_template_cap=5))
        await first.commit()
    assert await asyncio.wait_for(waiting, 30) == 5
