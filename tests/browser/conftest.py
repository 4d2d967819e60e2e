"""Headless Chromium for browser tests: Debian's `chromium` driven by Playwright (never a downloaded browser).

One Chromium serves the whole session (per xdist worker): starting Playwright's driver and the browser costs about
a second, which every browser test used to pay. Each page a test opens still gets a fresh browser context (its
own cookies and storage), and a test's contexts are closed when it ends, so tests share nothing but the process.

Playwright's objects belong to the event loop they were made on, so every test in this folder, the `browser`
fixture and the `stack` the tests drive run on pytest-asyncio's session loop (this conftest marks the modules).

Without chromium the tests skip with the reason — except under CI (`CI` set), where they must run.
"""

import os
import re
import shutil
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.stack import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makemodule(module_path, parent):
    """Every browser test module runs on the session loop, the one the shared Chromium was started on."""
    module = yield
    module.add_marker(pytest.mark.asyncio(loop_scope="session"))
    return module


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium():
    """The session's one Chromium (a skip or, under CI, a failure for every test that asks, when it is missing)."""
    executable = shutil.which("chromium")
    if executable is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium):
    """The shared Chromium, for one test: the contexts its pages were opened in are closed when it ends."""
    assert chromium.contexts == [], "an earlier browser test left a context open"
    yield chromium
    for context in chromium.contexts:
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def stack(tmp_path):
    """The suite's `stack`, started on the session loop, the one the browser runs on."""
    running = await Stack(tmp_path).start()
    yield running
    await running.stop()


async def open_page(browser, url: str, artifact: str):
    """A new tab (own cookies) that opens `url` like a clicked link; saves a screenshot named `artifact`.

    The page gets `artifact(name)` for further screenshots and `console_errors` (CSP violations included)."""
    context = await browser.new_context()
    page = await context.new_page()
    page.console_errors = []
    # A page that answers 400 is reported as a failed resource; what matters is script errors and CSP refusals.
    page.on("console", lambda message: message.type == "error" and not message.text.startswith(
        "Failed to load resource") and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.artifact = lambda name: str(ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png")
    response = await page.goto(url)
    await page.screenshot(path=page.artifact(artifact), full_page=True)
    return page, response
