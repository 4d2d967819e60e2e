"""An uninstalled workspace, or one whose bot token was revoked, is refused at its very next request: the
process forgets the installation it remembered for a few seconds the moment Slack says it is gone. Over HTTP, in
multi-workspace mode, on the app's clock, which stands still here: without the forgetting, what is remembered
would serve the workspace for the whole test."""

from tests.e2e.test_many_workspaces import install, multi  # noqa: F401 (a fixture)
from tests.support.stack import ADMIN

LINK = "/salesforce/oauth/start"


async def served(stack) -> bool:
    """Run /qc connect-org as the workspace's admin: True if the link came, False if Slack is told to reinstall."""
    posts_before = len(stack.slack.response_url_posts)
    seen = len(stack.slack.ephemerals(ADMIN))
    await stack.slash("connect-org")
    answers = await stack.slack.wait_for(
        lambda: [str(post.body) for post in stack.slack.response_url_posts[posts_before:]]
        + [answer.text for answer in stack.slack.ephemerals(ADMIN)[seen:]], what="an answer to connect-org")
    assert any(LINK in answer or "reinstall" in answer.lower() for answer in answers), answers
    return any(LINK in answer for answer in answers)


async def forgotten(stack, *, reason: str) -> None:
    """Wait until the event's listener has finished: its last word is logged after the memory is dropped."""
    await stack.slack.wait_for(lambda: f"{reason}; installation deleted" in stack.log_text(),
                               what="the installation forgotten")
    assert stack.query("SELECT COUNT(*) FROM slack_installations") == [(0,)]


async def test_the_next_request_after_app_uninstalled_is_refused(multi):  # noqa: F811
    await install(multi)
    assert await served(multi), "installed: served, and the installation is now remembered"
    await multi.slack.send_event(multi.events_url, event={"type": "app_uninstalled"})
    await forgotten(multi, reason="app_uninstalled")
    assert not await served(multi)


async def test_the_next_request_after_the_bot_token_is_revoked_is_refused_and_a_reinstall_serves(multi):  # noqa: F811
    await install(multi)
    assert await served(multi)
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [multi.slack.team.bot_user_id]}}
    await multi.slack.send_event(multi.events_url, event=revoked)
    await forgotten(multi, reason="bot_token_revoked")
    assert not await served(multi)
    await install(multi)
    assert await served(multi)
