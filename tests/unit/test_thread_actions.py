"""What the workspace sees of an NDR action in a thread (portal API, console, sandbox show):
what the shopper asked for, numbers in it masked."""

from __future__ import annotations

from domain.ndr import NdrActionKind, NdrActionState
from entrypoints.http.console.timeline import Row
from entrypoints.http.portal.conversation_views import ThreadAction, thread_item
from entrypoints.sandbox_show import row_lines
from tests.support.factories import NdrActionFactory

ADDRESS = "Flat 4B, Lake View Apartments, Sector 21, Gurugram 122016, call 98765 43210"


def test_a_new_address_is_shown_as_typed_with_its_numbers_masked() -> None:
    action = NdrActionFactory.build(
        kind=NdrActionKind.UPDATE_ADDRESS,
        address=ADDRESS,
        state=NdrActionState.DONE,
        result="ESB-NDR-7",
        attempts=1,
    )
    item = thread_item(action)
    assert isinstance(item, ThreadAction)
    shown = "Flat 4B, Lake View Apartments, Sector 21, Gurugram 122016, call ***** *3210"
    assert (item.action, item.address, item.phone) == (NdrActionKind.UPDATE_ADDRESS, shown, None)
    [line] = row_lines(Row(item))
    assert f'=> ESB update_address to "{shown}": done, ESB answered: ESB-NDR-7' in line


def test_other_actions_have_no_address() -> None:
    item = thread_item(NdrActionFactory.build(kind=NdrActionKind.CANCEL))
    assert isinstance(item, ThreadAction)
    assert item.address is None
    [line] = row_lines(Row(item))
    assert "=> ESB cancel: " in line
