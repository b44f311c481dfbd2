"""Ready-made shipment events, one per failed-delivery reason, shipped with the package for
``fdr-whatsapp sandbox event --reason KEY``: the seed's event (account 379) with that reason's
courier remark, each for its own shipment (17148471 is the seed's OTP cancellation)."""

from __future__ import annotations

from importlib import resources


def sandbox_reasons() -> list[str]:
    """The reasons there is an event for, as ``--reason`` takes them."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def sandbox_event(reason: str) -> bytes:
    return resources.files(__name__).joinpath(f"{reason}.json").read_bytes()
