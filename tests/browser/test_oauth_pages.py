"""The browser pages as an admin meets them: headless Chromium (Debian's package, driven by Playwright) follows
the same links an admin clicks — the one-time link, Salesforce's consent page, the callback — and every page
is checked for its visible text, its status and a clean console. A screenshot of each page is kept under
`test-artifacts/browser/`."""

import re
from datetime import timedelta

import pytest

from tests.browser.conftest import open_page
from tests.support.stack import CHANNEL, Stack

ELEVEN_MINUTES = timedelta(minutes=11)


@pytest.fixture
async def consenting_stack(stack):
    stack.salesforce.interactive_consent = True  # Salesforce shows Allow/Deny instead of approving at once
    return stack


async def test_the_admin_authorizes_and_lands_on_the_success_page(consenting_stack, browser):
    stack = consenting_stack
    link = await stack.request_link()
    page, response = await open_page(browser, link, "salesforce-consent")
    assert response.status == 200 and page.url.startswith(stack.salesforce.login_url)
    assert await page.locator("h1").inner_text() == "Allow access?"
    assert "qc-bot is asking to access your Salesforce data" in await page.inner_text("body")

    async with page.expect_navigation(url=re.compile(r".*/salesforce/oauth/callback\?.*")) as navigation:
        await page.click("#allow")
    assert (await navigation.value).status == 200
    await page.screenshot(path=page.artifact("authorized"), full_page=True)
    assert await page.locator("h1").inner_text() == "Authorized — you can return to Slack"
    body = await page.inner_text("body")
    assert "qc-bot is now setting up the QualityClouds app in Acme Corp." in body
    back = page.get_by_role("link", name="Return to Slack")
    assert await back.get_attribute("href") == (
        f"https://slack.com/app_redirect?team={stack.slack.team.team_id}&channel={CHANNEL}")
    await stack.status_message()
    assert page.console_errors == []

    # The same callback again (back button, reload, a replay): refused, nothing changes.
    callback_url = page.url
    replay, response = await open_page(browser, callback_url, "callback-already-used")
    assert response.status == 400
    assert await replay.locator("h1").inner_text() == "This authorization was already completed"
    assert "Nothing was changed in Salesforce" in await replay.inner_text("body")

    # The one-time link again.
    again, response = await open_page(browser, link, "link-already-used")
    assert response.status == 400
    assert await again.locator("h1").inner_text() == "This link was already used"
    assert "Run /qc connect-org in Slack to get a fresh link." in await again.inner_text("body")


async def test_denying_access_shows_what_happened_and_what_to_do(consenting_stack, browser):
    stack = consenting_stack
    page, _ = await open_page(browser, await stack.request_link(), "salesforce-consent-before-deny")
    async with page.expect_navigation(url=re.compile(r".*/salesforce/oauth/callback\?.*")) as navigation:
        await page.click("#deny")
    assert (await navigation.value).status == 400
    await page.screenshot(path=page.artifact("access-denied"), full_page=True)
    assert await page.locator("h1").inner_text() == "Authorization did not complete"
    body = await page.inner_text("body")
    assert "Access was declined on the Salesforce authorization page." in body
    assert "Run /qc connect-org again and choose Allow to continue." in body
    assert await page.get_by_role("link", name="Return to Slack").count() == 1


async def test_an_expired_link(stack, browser):
    link = await stack.request_link()
    stack.clock.advance(ELEVEN_MINUTES)
    page, response = await open_page(browser, link, "link-expired")
    assert response.status == 410
    assert await page.locator("h1").inner_text() == "This link has expired"
    assert "Authorization links work for 10 minutes." in await page.inner_text("body")


async def test_an_authorization_that_took_too_long(consenting_stack, browser):
    stack = consenting_stack
    page, _ = await open_page(browser, await stack.request_link(), "salesforce-consent-left-open")
    stack.clock.advance(ELEVEN_MINUTES)  # the admin left Salesforce's page open
    async with page.expect_navigation(url=re.compile(r".*/salesforce/oauth/callback\?.*")):
        await page.click("#allow")
    await page.screenshot(path=page.artifact("callback-expired"), full_page=True)
    assert await page.locator("h1").inner_text() == "This authorization took too long"


@pytest.mark.parametrize(("path", "heading", "artifact"), [
    ("/salesforce/oauth/start", "This link is incomplete", "link-missing"),
    ("/salesforce/oauth/start?link=madeUpLink0123456789abcdef", "This link is not valid", "link-unknown"),
    ("/salesforce/oauth/callback?code=aPrWz0123&state=forgedState0123456789", "Unknown authorization",
     "callback-forged-state"),
    ("/salesforce/oauth/callback", "Incomplete answer from Salesforce", "callback-missing-state"),
])
async def test_links_and_callbacks_that_were_never_issued(stack, browser, path, heading, artifact):
    page, response = await open_page(browser, stack.bot_url + path, artifact)
    assert response.status == 400
    assert await page.locator("h1").inner_text() == heading
    assert "connect-org" in await page.inner_text("body")
    assert page.console_errors == []


async def test_the_slack_install_pages(tmp_path, browser):
    stack = Stack(tmp_path, env={"SLACK_CLIENT_ID": "111.222", "SLACK_CLIENT_SECRET": "slack-client-secret-0123"})
    await stack.start()
    try:
        stack.slack.register_oauth_client(client_id="111.222", client_secret="slack-client-secret-0123",
                                          redirect_uris=[stack.bot_url + "/slack/oauth_redirect"])
        page, response = await open_page(browser, stack.bot_url + "/slack/install", "slack-installed")
        assert response.status == 200
        assert await page.locator("h1").inner_text() == "qc-bot is installed in QC Test Workspace"
        assert await page.get_by_role("link", name="Open Slack").get_attribute("href") == (
            f"https://slack.com/app_redirect?app={stack.slack.app_id}&team={stack.slack.team.team_id}")

        stack.slack.install_consent = "deny"
        page, response = await open_page(browser, stack.bot_url + "/slack/install", "slack-install-cancelled")
        assert response.status == 400
        assert await page.locator("h1").inner_text() == "Installation cancelled"
    finally:
        await stack.stop()
