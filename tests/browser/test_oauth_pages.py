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


async def assert_page(page, *, heading: str, says: tuple[str, ...] = ()) -> None:
    """The page's visible heading is `heading` and its visible text contains each of `says`."""
    assert await page.locator("h1").inner_text() == heading
    body = await page.inner_text("body")
    for text in says:
        assert text in body


async def authorize_and_decide(page, decision: str, artifact: str):
    """Click Allow or Deny on Salesforce's consent page; return the response of the callback it lands on."""
    async with page.expect_navigation(url=re.compile(r".*/salesforce/oauth/callback\?.*")) as navigation:
        await page.click(f"#{decision}")
    await page.screenshot(path=page.artifact(artifact), full_page=True)
    return await navigation.value


async def continue_to_salesforce(browser, stack, link: str, artifact: str):
    """Open the link: qc-bot's page names the request; click "Continue to Salesforce". Returns Salesforce's page."""
    page, response = await open_page(browser, link, "before-salesforce")
    assert response.status == 200
    await assert_page(page, heading="Authorize qc-bot in Salesforce", says=(
        f"{stack.slack.team.domain} ({stack.slack.team.team_id})", f"#salesforce-admins ({CHANNEL})",
        "@ada (UADMIN0001)", "Not your request? Close this tab"))
    assert page.console_errors == []
    async with page.expect_navigation(url=re.compile(re.escape(stack.salesforce.login_url) + ".*")):
        await page.get_by_role("link", name="Continue to Salesforce").click()
    await page.screenshot(path=page.artifact(artifact), full_page=True)
    return page


@pytest.fixture
def consenting_stack(stack):
    stack.salesforce.interactive_consent = True  # Salesforce shows Allow/Deny instead of approving at once
    return stack


async def test_the_admin_authorizes_and_lands_on_the_success_page(consenting_stack, browser):
    stack = consenting_stack
    link = await stack.request_link()
    page = await continue_to_salesforce(browser, stack, link, "salesforce-consent")
    assert page.url.startswith(stack.salesforce.login_url)
    await assert_page(page, heading="Allow access?", says=("qc-bot is asking to access your Salesforce data",))

    assert (await authorize_and_decide(page, "allow", "authorized")).status == 200
    await assert_page(page, heading="Authorized — you can return to Slack",
                      says=("qc-bot is now setting up the QualityClouds app in Acme Corp.",))
    back = page.get_by_role("link", name="Return to Slack")
    assert await back.get_attribute("href") == (
        f"https://slack.com/app_redirect?team={stack.slack.team.team_id}&channel={CHANNEL}")
    await stack.status_message()
    assert page.console_errors == []

    # The same callback again (back button, reload, a replay): refused, nothing changes.
    callback_url = page.url
    replay, response = await open_page(browser, callback_url, "callback-already-used")
    assert response.status == 400
    await assert_page(replay, heading="This authorization was already completed",
                      says=("Nothing was changed in Salesforce",))

    # The one-time link again.
    again, response = await open_page(browser, link, "link-already-used")
    assert response.status == 400
    await assert_page(again, heading="This link was already used",
                      says=("Run /qc connect-org in Slack to get a fresh link.",))


async def test_denying_access_shows_what_happened_and_what_to_do(consenting_stack, browser):
    stack = consenting_stack
    page = await continue_to_salesforce(browser, stack, await stack.request_link(), "salesforce-consent-before-deny")
    assert (await authorize_and_decide(page, "deny", "access-denied")).status == 400
    await assert_page(page, heading="Authorization did not complete",
                      says=("Access was declined on the Salesforce authorization page.",
                            "Run /qc connect-org again and choose Allow to continue."))
    assert await page.get_by_role("link", name="Return to Slack").count() == 1


async def test_an_expired_link(stack, browser):
    link = await stack.request_link()
    stack.clock.advance(ELEVEN_MINUTES)
    page, response = await open_page(browser, link, "link-expired")
    assert response.status == 410
    await assert_page(page, heading="This link has expired", says=("Authorization links work for 10 minutes.",))


async def test_an_authorization_that_took_too_long(consenting_stack, browser):
    stack = consenting_stack
    page = await continue_to_salesforce(browser, stack, await stack.request_link(), "salesforce-consent-left-open")
    stack.clock.advance(ELEVEN_MINUTES)  # the admin left Salesforce's page open
    assert (await authorize_and_decide(page, "allow", "callback-expired")).status == 400
    await assert_page(page, heading="This authorization took too long")


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
    await assert_page(page, heading=heading, says=("connect-org",))
    assert page.console_errors == []


async def test_the_slack_install_pages(tmp_path, browser):
    stack = Stack(tmp_path, env={"SLACK_CLIENT_ID": "111.222", "SLACK_CLIENT_SECRET": "slack-client-secret-0123"})
    await stack.start()
    try:
        stack.slack.register_oauth_client(client_id="111.222", client_secret="slack-client-secret-0123",
                                          redirect_uris=[stack.bot_url + "/slack/oauth_redirect"])
        page, response = await open_page(browser, stack.bot_url + "/slack/install", "slack-installed")
        assert response.status == 200
        await assert_page(page, heading="qc-bot is installed in QC Test Workspace")
        assert await page.get_by_role("link", name="Open Slack").get_attribute("href") == (
            f"https://slack.com/app_redirect?app={stack.slack.app_id}&team={stack.slack.team.team_id}")

        stack.slack.install_consent = "deny"
        page, response = await open_page(browser, stack.bot_url + "/slack/install", "slack-install-cancelled")
        assert response.status == 400
        await assert_page(page, heading="Installation cancelled", says=("nothing was installed",))
    finally:
        await stack.stop()
