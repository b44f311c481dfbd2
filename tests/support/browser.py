"""A real headless Chromium (Debian's ``chromium``, driven by Playwright) against the app served
on a real port. No browser means a failed test, never a skipped one (docs/console.md)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from litestar import Litestar
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
#: Quiet, offline, and runnable as root in a container.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the tests leave a picture of each page, for a person to look at (git-ignored).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}  # a common phone, in CSS pixels


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240 - one stat before anything starts
        raise AssertionError(f"{CHROMIUM} is missing: `make test` installs it (apt-get chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def served(app: Litestar) -> AsyncIterator[str]:
    """``app`` on a free port of 127.0.0.1 in this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The app's hooks run here, as tests.support.app.serve runs them (not uvicorn's lifespan).
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    for hook in app.on_startup:
        await hook()  # type: ignore[call-arg]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(600):  # up to 60 s on a busy machine
            if server.started:
                break
            await asyncio.sleep(0.1)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
        sock.close()
        for hook in app.on_shutdown:
            await hook()  # type: ignore[call-arg]


@dataclass
class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    page: Page
    errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def fits_the_width(self) -> None:
        """Nothing wider than the viewport: readable without scrolling sideways."""
        # A click that follows a link or submits a form returns once the navigation has
        # started, not once the new page is there: measured before its root element exists,
        # the page has no width to read (``document.documentElement`` is null).
        await self.page.wait_for_load_state("load")
        overflow = await self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{overflow}px wider than the screen"


@asynccontextmanager
async def watched_page(
    browser: Browser, *, viewport: dict[str, int] | None = None
) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 900})  # type: ignore[arg-type]
    page = await context.new_page()
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        # A page's own 401/403/404 is what the test asks for (and checks); Chromium logs it
        # as an error. A failing script, style or image still counts.
        own_status = message.text.startswith("Failed to load resource") and (
            message.location.get("url") == page.url
        )
        if message.type == "error" and not own_status:
            watched.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    try:
        yield watched
    finally:
        await context.close()
