"""The browser routes refuse incomplete or unknown input with a real page, and never leak through caches."""

import pytest


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/salesforce/oauth/start", 400, "incomplete"),
        ("/salesforce/oauth/start?link=not-a-real-link", 400, "not valid"),
        ("/salesforce/oauth/callback", 400, "Incomplete answer"),
        ("/salesforce/oauth/callback?state=forged&code=abc", 400, "Unknown authorization"),
    ],
)
async def test_bad_browser_requests_get_a_clear_page(stack, path, status, fragment):
    visit = await stack.browse(stack.bot_url + path)
    page = visit.final
    assert page.status == status and fragment in page.body
    assert "<html" in page.body and "connect-org" in page.body
    assert stack.salesforce.requests == []


async def test_pages_are_not_cached_framed_or_referred(stack):
    async with stack.browser.get(stack.bot_url + "/salesforce/oauth/start?link=x") as response:
        headers = response.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


async def test_healthz(stack):
    async with stack.browser.get(stack.bot_url + "/healthz") as response:
        assert response.status == 200 and await response.json() == {"status": "ok"}
