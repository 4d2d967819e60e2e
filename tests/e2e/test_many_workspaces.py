"""Multi-workspace mode (SLACK_CLIENT_ID/SLACK_CLIENT_SECRET): Slack OAuth install into two workspaces, each
served with its own bot token, each seeing only its own orgs; uninstall and token revocation forget one."""

from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.support.cli import iso, qc_bot
from tests.support.stack import ADMIN, CARD_SETTING_UP, CHANNEL, Stack, query_of

CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "slack-client-secret-0123456789abcdef"
BETA_ADMIN = "UBETAADM01"
BETA_CHANNEL = "CBETACHAN1"


@pytest.fixture
async def multi(tmp_path, database_url):
    stack = Stack(tmp_path, database_url=database_url,
                  env={"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET})
    stack.salesforce.add_org(name="Globex Ltd", admin_username="admin@globex.example")  # before its host is allowed
    await stack.start()
    stack.slack.register_oauth_client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                      redirect_uris=[stack.bot_url + "/slack/oauth_redirect"])
    yield stack
    await stack.stop()


async def install(stack, team=None, user=None):
    if team is not None:
        stack.slack.installing_team = team
    stack.slack.installing_user = user
    return await stack.slack.install(stack.bot_url + "/slack/install")


async def connect_in(stack, *, team, user, channel, org):
    """Run /qc connect-org in `team` and authorize as `org`'s admin; return the channel's status message."""
    slack = stack.slack
    seen = len(slack.ephemerals(user))
    await slack.send_slash_command(stack.events_url, text="connect-org", user_id=user, channel_id=channel, team=team)
    link = await stack.link_shown_after(seen, user=user)
    stack.salesforce.sign_in(org)
    visit = await stack.browse(link)
    assert visit.final.status == 200, visit.final.body
    return (await slack.wait_for(
        lambda: [m for m in slack.messages(channel) if not m.text.startswith(CARD_SETTING_UP)],
        what=f"the status in {channel}"))[-1]


async def test_two_workspaces_are_served_each_with_its_own_token_and_see_only_their_orgs(multi):
    slack, salesforce = multi.slack, multi.salesforce
    alpha = slack.team
    preinstalled_token = alpha.bot_token
    slack.revoke_token(preinstalled_token)  # SLACK_BOT_TOKEN is not used in multi-workspace mode

    installed = await install(multi)
    assert installed.status == 200 and "qc-bot is installed in QC Test Workspace" in installed.text
    beta = slack.add_team(name="Beta Industries", domain="beta")
    slack.add_user(beta, user_id=BETA_ADMIN, name="bea", real_name="Bea Admin", is_admin=True,
                   email="admin@globex.example")
    slack.add_channel(beta, channel_id=BETA_CHANNEL, name="sf-admins", members=[BETA_ADMIN])
    assert (await install(multi, team=beta, user=BETA_ADMIN)).status == 200
    assert alpha.bot_token != preinstalled_token

    acme = salesforce.org("Acme Corp")
    globex = salesforce.org("Globex Ltd")
    alpha_status = await connect_in(multi, team=alpha, user=ADMIN, channel=CHANNEL, org=acme)
    beta_status = await connect_in(multi, team=beta, user=BETA_ADMIN, channel=BETA_CHANNEL, org=globex)
    assert "Acme Corp" in alpha_status.text and "Globex Ltd" in beta_status.text

    # Every Web API call for a workspace used that workspace's own installed token.
    posts = slack.calls_to("chat.postMessage") + slack.calls_to("chat.postEphemeral")
    assert {call.team_id for call in posts} == {alpha.team_id, beta.team_id}
    for call in posts:
        assert call.token == slack.teams[call.team_id].bot_token
    assert not any(call.token == preinstalled_token for call in slack.calls)
    # Requests are authorized from the stored installation: Slack is asked who the bot is once per install
    # (Bolt's install flow), never per request.
    assert len(slack.calls_to("auth.test")) == 2

    # Neither workspace ever sees the other's org: not in its channel, not in its members' private messages.
    alpha_seen = " ".join(m.text for m in slack.messages(CHANNEL)) + str([e.blocks for e in slack.ephemerals(ADMIN)])
    beta_seen = " ".join(m.text for m in slack.messages(BETA_CHANNEL)) + str(
        [e.blocks for e in slack.ephemerals(BETA_ADMIN)])
    assert "Globex" not in alpha_seen and globex.id not in alpha_seen
    assert "Acme" not in beta_seen and acme.id not in beta_seen
    assert multi.query("SELECT team_id, org_name FROM orgs ORDER BY org_name") == [
        (alpha.team_id, "Acme Corp"), (beta.team_id, "Globex Ltd")]
    for team in (alpha, beta):
        audited = {row[0] for row in multi.query("SELECT action FROM audit_log WHERE team_id = :team",
                                                 {"team": team.team_id})}
        assert {"slack_install", "link_opened", "authorize", "provision"} <= audited

    # Beta's admin cannot use Alpha's reveal button, even knowing its id.
    alpha_offer = next(e for e in slack.ephemerals(ADMIN) if "Reveal" in str(e.blocks))
    alpha_reveal_id = alpha_offer.blocks[0]["accessory"]["value"]
    await slack.send_block_action(multi.events_url, user_id=BETA_ADMIN, action_id="reveal_credentials",
                                  value=alpha_reveal_id, channel_id=BETA_CHANNEL, team=beta)
    await slack.wait_for(lambda: [p for p in slack.response_url_posts if "Only the admin" in str(p.body)])
    assert slack.opened_views == []

    # Installation tokens are encrypted at rest and never logged.
    database, log = multi.database_bytes(), multi.log_text()
    for token in (alpha.bot_token, beta.bot_token):
        assert token.encode() not in database and token not in log
    assert len(multi.query("SELECT bot_token_enc FROM slack_installations")) == 2


async def test_uninstall_and_revocation_forget_only_that_workspace(multi):
    slack = multi.slack
    alpha = slack.team
    beta = slack.add_team(name="Beta Industries", domain="beta")
    slack.add_user(beta, user_id=BETA_ADMIN, name="bea", is_admin=True)
    slack.add_channel(beta, channel_id=BETA_CHANNEL, name="sf-admins", members=[BETA_ADMIN])
    await install(multi)
    await install(multi, team=beta, user=BETA_ADMIN)
    assert len(multi.query("SELECT team_id FROM slack_installations")) == 2

    delivery = await slack.send_event(multi.events_url, event={"type": "app_uninstalled"}, team=alpha)
    assert delivery.status == 200
    await slack.wait_for(lambda: multi.query("SELECT team_id FROM slack_installations") == [(beta.team_id,)],
                         what="Alpha's installation to be forgotten")
    assert multi.query("SELECT outcome, detail FROM audit_log WHERE action = 'slack_uninstall'") == [
        ("forgotten", '{"reason": "app_uninstalled"}')]

    # Alpha is no longer served; Beta still is.
    posts_before = len(slack.response_url_posts)
    await multi.slash("connect-org")
    refusal = await slack.wait_for(lambda: slack.response_url_posts[posts_before:])
    assert "reinstall" in str(refusal[0].body).lower() and "/salesforce/oauth/start" not in str(refusal[0].body)
    beta_help = await slack.send_slash_command(multi.events_url, text="help", user_id=BETA_ADMIN,
                                               channel_id=BETA_CHANNEL, team=beta)
    assert "connect-org" in beta_help.text

    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [beta.bot_user_id]}}
    await slack.send_event(multi.events_url, event=revoked, team=beta)
    await slack.wait_for(lambda: multi.query("SELECT team_id FROM slack_installations") == [],
                         what="Beta's installation to be forgotten")


async def test_install_failures_show_a_clear_page(multi):
    multi.slack.install_consent = "deny"
    denied = await install(multi)
    assert denied.status == 400 and "Installation cancelled" in denied.text
    async with multi.browser.get(multi.bot_url + "/slack/oauth_redirect?code=abc&state=forged") as response:
        text = await response.text()
    assert response.status == 400 and "Installation started elsewhere" in text
    assert multi.query("SELECT COUNT(*) FROM slack_installations") == [(0,)]


FORGED = "x\nCRITICAL bot.app forged line " + "A" * 5000
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
}


@pytest.mark.parametrize("path", [
    "/slack/install",
    "/slack/oauth_redirect?error=access_denied",
    "/slack/oauth_redirect?code=abc&state=forged",
    "/slack/oauth_redirect?error=" + quote(FORGED),
])
async def test_install_pages_have_the_page_headers_and_an_error_parameter_forges_no_log_line(multi, path):
    async with multi.browser.get(multi.bot_url + path, allow_redirects=False) as response:
        text = await response.text()
    for header, value in PAGE_HEADERS.items():
        assert response.headers[header] == value, header
    lines = multi.log_text().splitlines()
    assert not [line for line in lines if line.startswith("CRITICAL")], "a request wrote a log line of its own"
    assert all(len(line) < 400 for line in lines if "installation failed" in line)
    assert "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" not in text, "the page does not repeat the value"


async def test_the_install_route_redirects_to_slack_with_a_single_use_state(multi):
    async with multi.browser.get(multi.bot_url + "/slack/install", allow_redirects=False) as response:
        location = response.headers["Location"]
        cookie = response.headers["Set-Cookie"]
    assert response.status == 302 and location.startswith(multi.slack.authorize_url + "?")
    query = query_of(location)
    assert query["scope"] == "commands,chat:write,chat:write.public,users:read,users:read.email"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == multi.bot_url + "/slack/oauth_redirect"
    assert "slack-app-oauth-state=" in cookie and "HttpOnly" in cookie
    stored = multi.query("SELECT state_digest FROM slack_install_states")
    assert len(stored) == 1 and stored[0][0] != query["state"]  # only a digest is kept


async def test_expiry_warnings_go_out_with_the_workspaces_own_token_from_serve_and_check_expiry(multi):
    slack, acme = multi.slack, multi.salesforce.org("Acme Corp")
    slack.revoke_token(slack.team.bot_token)
    await install(multi)
    created = multi.clock.now()
    acme.add_oauth_token(app_name="QualityClouds", user=acme.admin, created=created, last_used=created)
    await connect_in(multi, team=slack.team, user=ADMIN, channel=CHANNEL, org=acme)
    await slack.wait_for(lambda: multi.query("SELECT 1 FROM tracked_tokens WHERE kind = 'app'"), what="tracking")

    multi.clock.set(created + timedelta(days=60, minutes=1))
    thirty = await slack.wait_for(lambda: [m for m in slack.messages(CHANNEL) if "expires in 30 days" in m.text])
    await slack.wait_for(lambda: multi.query("SELECT 1 FROM notifications WHERE dedupe_key LIKE :key"
                                             " AND status = 'sent'", {"key": "expiry:%:30"}),
                         what="the 30-day warning marked sent")
    await multi.stop_bot()
    code, output, errors = await qc_bot(multi, "check-expiry", "--at", iso(created + timedelta(days=84)))
    assert code == 0, errors + output
    assert "sent: 7-day warning for Acme Corp" in output
    seven = [m for m in slack.messages(CHANNEL) if "expires in 6 days" in m.text]
    assert len(thirty) == 1 and len(seven) == 1
    expiry_posts = [call for call in slack.calls_to("chat.postMessage") if "expires in" in str(call.params)]
    assert len(expiry_posts) == 2 and all(call.token == slack.team.bot_token for call in expiry_posts)
