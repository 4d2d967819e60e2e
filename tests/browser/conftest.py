"""Headless Chromium for browser tests: Debian's `chromium` driven by Playwright (never a downloaded browser).

Without chromium the tests skip with the reason — except under CI (`CI` set), where they must run.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


@pytest.fixture
async def browser():
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

