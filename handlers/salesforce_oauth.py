"""The browser side of the Salesforce authorization: `/salesforce/oauth/start` and `/callback`.

These routes are outside Bolt (no Slack signature): the one-time link and the OAuth `state` are
what authenticate them, and both are checked by the journey before anything else happens.
"""

from __future__ import annotations

from aiohttp import web

from bot.failures import CallbackProblem, Failure, LinkProblem
from bot.messages import pages
from bot.services import SERVICES_KEY


def register(web_app: web.Application) -> None:
    web_app.router.add_get("/salesforce/oauth/start", start)
    web_app.router.add_get("/salesforce/oauth/callback", callback)


def _render(page: pages.Page) -> web.Response:
    return web.Response(status=page.status, text=page.html, content_type="text/html", headers=pages.PAGE_HEADERS)


async def start(request: web.Request) -> web.Response:
    link = request.query.get("link")
    if not link:
        return _render(pages.link_problem(LinkProblem.MISSING))
    opened = await request.app[SERVICES_KEY].journey.open_link(link_token=link)
    if opened.authorize_url is None or opened.link is None:
        return _render(pages.link_problem(opened.problem or LinkProblem.UNKNOWN))
    asked = opened.link
    return _render(pages.before_salesforce(
        workspace=_named(asked.team_name, asked.team_id), channel=_named(asked.channel_name, asked.channel_id, "#"),
        requester=_named(asked.user_name, asked.user_id, "@"), login_host=asked.login_url, run_as=asked.run_as,
        authorize_url=opened.authorize_url,
    ))


def _named(name: str | None, slack_id: str, prefix: str = "") -> str:
    return f"{prefix}{name} ({slack_id})" if name else slack_id


async def callback(request: web.Request) -> web.Response:
    query = request.query
    outcome = await request.app[SERVICES_KEY].journey.complete_authorization(
        state=query.get("state"), code=query.get("code"), error=query.get("error"),
        error_description=query.get("error_description"),
    )
    slack_url = (pages.slack_channel_url(team_id=outcome.team_id, channel_id=outcome.channel_id)
                 if outcome.team_id and outcome.channel_id else None)
    if outcome.kind == "authorized":
        assert slack_url is not None
        return _render(pages.authorized(org_name=outcome.org_name or "your org", slack_url=slack_url))
    if outcome.kind == "awaiting_confirmation":
        assert slack_url is not None
        return _render(pages.confirm_in_slack(org_name=outcome.org_name or "your org", slack_url=slack_url))
    if outcome.kind == "state_problem":
        return _render(pages.callback_problem(outcome.problem or CallbackProblem.UNKNOWN))
    return _render(pages.authorization_failed(failure=outcome.failure_code or Failure.INTERNAL_ERROR,
                                              detail=outcome.failure_detail, slack_url=slack_url))
