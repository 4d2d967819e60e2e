"""SPEC §4 over HTTP: the QualityClouds app's refresh tokens are read where the org keeps them. An External
Client App's come from its Connect REST OAuth Usage (every user, every page, one watched token per user); a
Connected App's from `OauthToken`. A refused OAuth Usage read leaves the org connected and what is known
watched, and the channel hears once what to grant."""

from datetime import timedelta

from tests.support.stack import CHANNEL, MEMBER

DAY = timedelta(days=1)
SYNC = timedelta(minutes=60)  # QC_TOKEN_SYNC_MINUTES' default
ADMIN_READ = {"ManageExternalClientApps", "CustomizeApplication", "ModifyAllData"}


def tracked_app_tokens(stack):
    return stack.query("SELECT salesforce_username, issued_at FROM tracked_tokens WHERE kind = 'app'"
                       " ORDER BY salesforce_username")


def usage_calls(stack, route):
    return [record for record in stack.salesforce.requests if record.operation == route]


async def next_sync_done(stack):
    stack.clock.advance(SYNC)
    await stack.token_sync_done()


async def status_answer(stack):
    before = len(stack.slack.response_url_posts)
    await stack.slash("status", user=MEMBER)
    found = await stack.slack.wait_for(
        lambda: [post for post in stack.slack.response_url_posts[before:] if "Nearest expiry" in str(post.body)],
        what="the /qc status answer")
    return str(found[-1].body["blocks"])


async def test_every_users_eca_token_is_tracked_across_usage_pages_once_per_user(stack):
    await stack.connect()
    await stack.status_message()
    await stack.token_sync_done()
    org = stack.org
    org.oauth_usage_page_size = 1  # one user per page: three users take three pages and an empty fourth
    users = [org.admin, *(org.add_user(username=f"analyst{n}@acme.example") for n in range(2))]
    start = stack.clock.now()
    for number, user in enumerate(users):
        org.issue_app_token("QualityClouds", user=user, created=start - (10 + number) * DAY)
    newest = start - 2 * DAY  # the admin signed in again: the older token is one Quality Clouds replaced
    org.issue_app_token("QualityClouds", user=org.admin, created=newest)
    assert org.oauth_tokens == [] or all(row.app_name != "QualityClouds" for row in org.oauth_tokens)
    stack.clock.advance(SYNC)
    tokens = await stack.slack.wait_for(lambda: (found := tracked_app_tokens(stack)) and len(found) == 3 and found,
                                        what="three tracked tokens")
    assert [username for username, _ in tokens] == ["admin@acme.example", "analyst0@acme.example",
                                                    "analyst1@acme.example"]
    assert tokens[0][1].startswith(f"{newest:%Y-%m-%dT%H:%M}"), "the admin's newest token is the one watched"
    assert tokens[2][1].startswith(f"{start - 12 * DAY:%Y-%m-%dT%H:%M}")

    # nextPageUrl comes with the last page too: the bot followed it to the empty page and stopped there.
    await stack.settle()
    user_pages = [record.query for record in usage_calls(stack, "apps/oauth/usage/app/users")]
    assert [query.split("&")[0] for query in user_pages[-4:]] == ["", "page=1", "page=2", "page=3"]
    token_pages = [record.query for record in usage_calls(stack, "apps/oauth/usage/app/user/tokens")]
    # The admin's two tokens take two pages; each list ends on an empty page.
    assert [query.split("&")[0] for query in token_pages[-7:]] == ["", "page=1", "page=2", "", "page=1", "",
                                                                   "page=1"]

    # A user whose tokens are all gone (revoked in Setup) stops being watched; the others stay.
    for family in org.usage_tokens("QualityClouds"):
        if family.user is users[2]:
            stack.salesforce.tokens.revoke_family(family)
    await next_sync_done(stack)
    await stack.slack.wait_for(lambda: len(tracked_app_tokens(stack)) == 2, what="the analyst's token forgotten")
    assert "QualityClouds token of analyst0@acme.example" in await status_answer(stack), "the nearest expiry"


async def test_a_connected_apps_tokens_come_from_oauth_token(make_stack):
    stack = await make_stack(env={"QC_APP_KIND": "connected-app"})
    stack.org.connected_app_creation_allowed = True
    await stack.connect()
    await stack.status_message()
    await stack.token_sync_done()
    created = stack.clock.now()
    stack.org.issue_app_token("QualityClouds", user=stack.org.admin, created=created)
    assert [row.app_name for row in stack.org.oauth_tokens].count("QualityClouds") == 1
    stack.clock.advance(SYNC)
    await stack.slack.wait_for(lambda: tracked_app_tokens(stack), what="the Connected App's token tracked")
    assert [username for username, _ in tracked_app_tokens(stack)] == ["admin@acme.example"]
    assert not [record for record in stack.salesforce.requests if record.operation
                and record.operation.startswith("apps/oauth/usage/app")], "no OAuth Usage read for a Connected App"
    text = await status_answer(stack)
    assert "Connected App" in text and "QualityClouds token of admin@acme.example" in text

    stack.clock.set(created + 60 * DAY + timedelta(minutes=1))
    warnings = await stack.slack.wait_for(
        lambda: [m.text for m in stack.slack.messages(CHANNEL) if "expires in 30 days" in m.text],
        what="the 30-day warning")
    await stack.settle()
    assert len(warnings) == 1 and len([m for m in stack.slack.messages(CHANNEL) if "expires in" in m.text]) == 1


async def test_a_refused_usage_read_keeps_the_org_connected_and_is_said_once(stack):
    await stack.connect()
    await stack.status_message()
    await stack.token_sync_done()
    org = stack.org
    org.issue_app_token("QualityClouds", user=org.admin, created=stack.clock.now())
    stack.clock.advance(SYNC)
    await stack.slack.wait_for(lambda: tracked_app_tokens(stack), what="the app's token tracked")

    granted = org.admin.permissions & ADMIN_READ
    org.admin.permissions -= ADMIN_READ  # someone trimmed the admin's permission sets
    analyst = org.add_user(username="analyst@acme.example")
    org.issue_app_token("QualityClouds", user=analyst, created=stack.clock.now())
    for _ in range(3):
        await next_sync_done(stack)
    notice = await stack.slack.wait_for(
        lambda: [m.text for m in stack.slack.messages(CHANNEL) if "cannot see the QualityClouds app" in m.text],
        what="the channel to hear about the refused read")
    await stack.settle()
    assert len(notice) == 1, "said once, not at every sync"
    for fact in ("Acme Corp", "admin@acme.example", "Customize Application", "View all External Client Apps",
                 "You don't have permission to view external client apps", "The connection itself is fine"):
        assert fact in notice[0], fact
    assert stack.query("SELECT status FROM orgs") == [("connected",)]
    assert [username for username, _ in tracked_app_tokens(stack)] == ["admin@acme.example"], "what is known stays"
    assert "lost its access" not in " ".join(m.text for m in stack.slack.messages(CHANNEL))

    org.admin.permissions |= granted
    stack.clock.advance(SYNC)
    await stack.slack.wait_for(lambda: len(tracked_app_tokens(stack)) == 2, what="the analyst's token picked up")
    await stack.settle()
    assert len([m for m in stack.slack.messages(CHANNEL) if "cannot see" in m.text]) == 1
