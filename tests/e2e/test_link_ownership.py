"""A link is its requester's (SPEC §6, issue 13): single use on the decoded token, never its spelling; an
authorization by anyone but the requester deploys nothing until the requester confirms in Slack; foreign
words reach Slack inert; the page before Salesforce says whose request it is."""

import html
from datetime import timedelta
from urllib.parse import quote

import pytest

from bot.messages.actions import ACTION_AUTHORIZATION_CANCEL
from tests.support.stack import ADMIN, CHANNEL, MEMBER, query_of


def connections(stack):
    return stack.query("SELECT status, failure_code FROM connections ORDER BY created_at")


def confirmations(stack):
    return stack.query("SELECT actor, outcome FROM audit_log WHERE action = 'authorization_confirmed' ORDER BY id")


def start_url(stack, token):
    return f"{stack.bot_url}/salesforce/oauth/start?link={quote(token, safe='')}"


async def link_token_with_both_url_safe_characters(stack):
    """A link whose token holds a `-` and a `_`, so that both respellings of the base64 alphabet apply."""
    for _ in range(20):
        token = query_of(await stack.request_link())["link"]
        if "-" in token and "_" in token:
            return token
    raise AssertionError("20 links without both `-` and `_`")


def respellings(token):
    return {
        "a `!` added": token + "!",
        "a `.` added": token + ".",
        "a newline added": token + "\n",
        "a leading space": " " + token,
        "`-` as `+`": token.replace("-", "+", 1),
        "`_` as `/`": token.replace("_", "/", 1),
        "a newline inside": token[:20] + "\n" + token[20:],
    }


# -- single use on the decoded token -----------------------------------------------------------------------------

async def test_a_used_link_does_not_open_again_however_it_is_spelled(stack):
    token = await link_token_with_both_url_safe_characters(stack)
    first = await stack.browse(start_url(stack, token), max_hops=1)
    assert first.final.status == 200 and first.final.location.startswith(stack.salesforce.login_url)

    for how, respelled in respellings(token).items():
        assert respelled != token
        again = await stack.browse(start_url(stack, respelled), max_hops=1)
        assert again.final.status == 400 and "already used" in again.final.body, how
    assert len(connections(stack)) == 1, "a refused link creates nothing"
    assert len(stack.query("SELECT * FROM oauth_states")) == 1
    assert len(stack.query("SELECT * FROM audit_log WHERE action = 'link_opened'")) == 1


async def test_a_link_reopened_25_times_makes_one_journey_and_at_most_one_note(stack):
    token = query_of(await stack.request_link())["link"]
    for spelling in range(25):  # 25 spellings of one link: `.` added 0 to 24 times
        await stack.browse(start_url(stack, token + "." * spelling), max_hops=1)
    assert len(connections(stack)) == 1
    stack.clock.advance(timedelta(minutes=21))  # nobody came back from Salesforce
    await stack.slack.wait_for(lambda: connections(stack) == [("failed", "authorization_not_completed")] or None)
    await stack.settle()
    notes = [e for e in stack.slack.ephemerals(ADMIN) if "did not finish" in e.text]
    assert len(notes) == 1


async def test_an_expired_link_creates_nothing(stack):
    link = await stack.request_link()
    stack.clock.advance(timedelta(minutes=11))
    for _ in range(3):
        assert (await stack.browse(link)).final.status == 410
    assert connections(stack) == [] and stack.query("SELECT * FROM oauth_states") == []


# -- the page before Salesforce ----------------------------------------------------------------------------------

async def test_the_page_before_salesforce_names_the_workspace_channel_and_requester(stack):
    visit = await stack.browse(await stack.request_link("connect-org run-as=int@acme.example"), max_hops=1)
    page = html.unescape(visit.final.body)
    for named in (f"{stack.slack.team.domain} ({stack.slack.team.team_id})", f"#salesforce-admins ({CHANNEL})",
                  f"@ada ({ADMIN})", stack.salesforce.login_url, "int@acme.example"):
        assert named in page
    assert visit.final.location.startswith(stack.salesforce.login_url + "/services/oauth2/authorize")
    assert query_of(visit.final.location)["prompt"] == "login consent"
    assert stack.salesforce.calls("authorize") == [], "nothing reaches Salesforce before the admin continues"


@pytest.mark.parametrize("supported", [True, False], ids=["prompt-honoured", "prompt-ignored"])
async def test_the_journey_works_whether_salesforce_honours_prompt_or_not(stack, supported):
    stack.salesforce.prompt_supported = supported
    await stack.connect()
    assert "Acme Corp" in (await stack.status_message()).text
    assert stack.salesforce.prompts == ["login consent"]
    assert stack.salesforce.fresh_sign_ins == (1 if supported else 0)


async def test_a_link_for_a_login_host_that_is_no_longer_allowed_is_refused_with_a_page(make_stack, tmp_path):
    stack = await make_stack()
    link = await stack.request_link(f"connect-org {stack.org.my_domain_url}")
    stack.extra_env["SALESFORCE_ALLOWED_HOSTS"] = ",".join(
        host for host in stack.salesforce.allowed_hosts if host not in stack.org.my_domain_url)
    await stack.restart_bot()
    visit = await stack.browse(link)
    assert visit.final.status == 400 and "no longer allowed" in visit.final.body
    assert connections(stack) == [] and stack.salesforce.calls("authorize") == []


# -- whose authorization it is -----------------------------------------------------------------------------------

async def test_the_requesters_own_verified_address_continues_without_a_question(stack):
    await stack.connect()
    await stack.status_message()
    assert not [e for e in stack.slack.ephemerals(ADMIN) if "authorization_confirm" in str(e.blocks)]


async def lured(stack):
    """Ada's link is opened by another admin of another org, who is signed in to Salesforce."""
    other = stack.salesforce.add_org(name="Globex", admin_username="hank@globex.example")
    await stack.restart_bot()  # SALESFORCE_ALLOWED_HOSTS must list the new org's host
    stack.salesforce.sign_in(other)
    page = (await stack.connect()).final
    return other, page


async def test_a_lured_authorization_deploys_nothing_until_the_requester_confirms(stack):
    other, page = await lured(stack)
    assert page.status == 200 and "confirm in Slack" in page.body
    question = await stack.question_about_authorization()
    assert "hank@globex.example" in question.text and "Globex" in question.text and other.id in question.text
    assert "not your Slack e-mail address (admin@acme.example)" in question.text
    await stack.settle()
    assert other.external_client_apps == {} and stack.salesforce.calls("deploy") == []
    assert stack.slack.messages(CHANNEL) == []
    assert connections(stack) == [("awaiting_confirmation", None)]
    assert stack.query("SELECT org_id FROM orgs") == [], "the org is not connected before the answer"
    held = stack.query("SELECT held_authorization_enc FROM connections")[0][0]
    assert held and all(token.encode() not in stack.database_bytes() for token in stack.salesforce_tokens())

    # Someone else, with a signed click naming the journey (Slack shows the question to Ada alone), cannot
    # answer; Ada can, once.
    connection_id = stack.query("SELECT id FROM connections")[0][0]
    await stack.slack.send_block_action(stack.events_url, user_id=MEMBER, action_id="authorization_confirm",
                                        value=connection_id, channel_id=CHANNEL)
    # The click is acknowledged before it is decided: wait for the refusal so the audit order below is the clicks'.
    await stack.slack.wait_for(lambda: confirmations(stack) or None)
    await stack.answer_question()
    status = await stack.status_message()
    assert "Globex" in status.text and "QualityClouds" in other.external_client_apps
    await stack.slack.send_block_action(stack.events_url, user_id=ADMIN, action_id="authorization_confirm",
                                        value=connection_id, channel_id=CHANNEL)  # a second click, a replay
    await stack.settle()
    assert len(stack.salesforce.calls("token:authorization_code")) == 1
    assert connections(stack) == [("provisioned", None)]
    assert stack.query("SELECT held_authorization_enc FROM connections") == [(None,)]
    assert confirmations(stack) == [(MEMBER, "refused:not_requester"), (ADMIN, "done"), (ADMIN, "refused:decided")]


async def test_the_requester_cancels_and_nothing_is_deployed(stack):
    other, _ = await lured(stack)
    await stack.answer_question(action_id=ACTION_AUTHORIZATION_CANCEL)
    await stack.slack.wait_for(lambda: connections(stack) == [("failed", "authorization_cancelled")] or None)
    await stack.settle()
    assert other.external_client_apps == {} and stack.salesforce.calls("deploy") == []
    assert len(stack.salesforce.calls("revoke")) == 1, "the session the lured admin granted is revoked"
    assert stack.query("SELECT org_id FROM orgs") == []
    assert any("You cancelled" in e.text for e in stack.slack.ephemerals(ADMIN))


async def test_an_unanswered_question_lapses_and_revokes_the_tokens(stack):
    other, _ = await lured(stack)
    await stack.question_about_authorization()
    stack.clock.advance(timedelta(minutes=16))
    await stack.slack.wait_for(lambda: connections(stack) == [("failed", "confirmation_not_given")] or None)
    await stack.settle()
    assert len(stack.salesforce.calls("revoke")) == 1 and other.external_client_apps == {}
    notes = [e for e in stack.slack.ephemerals(ADMIN) if "Nobody confirmed in time" in e.text]
    assert len(notes) == 1
    connection_id = stack.query("SELECT id FROM connections")[0][0]
    await stack.slack.send_block_action(stack.events_url, user_id=ADMIN, action_id="authorization_confirm",
                                        value=connection_id, channel_id=CHANNEL)  # too late
    await stack.settle()
    assert stack.salesforce.calls("deploy") == []


async def test_an_unverified_address_is_not_proof(stack):
    stack.org.users[0].email_verified = False  # Ada's address, but the change was never confirmed
    await stack.connect()
    question = await stack.question_about_authorization()
    assert "has not verified" in question.text
    assert connections(stack) == [("awaiting_confirmation", None)]


async def test_without_the_email_scope_the_requester_confirms(stack):
    stack.slack.team.scopes.discard("users:read.email")  # installed before qc-bot asked for it
    await stack.connect()
    question = await stack.question_about_authorization()
    assert "Slack did not tell qc-bot your e-mail address" in question.text
    await stack.answer_question()
    assert "Acme Corp" in (await stack.status_message()).text


# -- foreign words are inert in Slack ----------------------------------------------------------------------------

async def test_an_error_description_reaches_slack_escaped(stack):
    link = await stack.request_link()
    to_salesforce = (await stack.browse(link, max_hops=1)).final.location
    state = query_of(to_salesforce)["state"]
    description = "Sign in again <https://evil.example|Click here> <!channel> & <@U0EVIL>"
    await stack.browse(f"{stack.bot_url}/salesforce/oauth/callback?error=access_denied&state={quote(state)}"
                       f"&error_description={quote(description)}")
    note = await stack.slack.wait_for(lambda: next(
        (e for e in stack.slack.ephemerals(ADMIN) if "evil.example" in str(e.blocks)), None))
    shown = str(note.blocks) + note.text
    assert "&lt;https://evil.example|Click here&gt;" in shown and "&lt;!channel&gt;" in shown
    assert "&amp; &lt;@U0EVIL&gt;" in shown
    assert "<https://evil.example" not in shown and "<!channel>" not in shown and "<@U0EVIL>" not in shown
