"""Multi-workspace install: `GET /slack/install` (off to Slack's consent page) and `GET /slack/oauth_redirect`
(back from it). Bolt's OAuth flow does the work; `bot.slack.install` stores the result and renders the pages."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow

from bot.messages import pages
from bot.slack.rate_limits import RateLimiter


def register(web_app: web.Application, oauth_flow: AsyncOAuthFlow, limiter: RateLimiter) -> None:
    async def install(request: web.Request) -> web.Response:
        # Each start stores a one-time state: a flood is refused before it writes anything.
        if not limiter.admit_install(address=request.remote):
            page = pages.slack_install_busy()
            return _as_page(web.Response(status=page.status, text=page.html, content_type="text/html",
                                         headers={"Retry-After": "60"}))
        return _as_page(await to_aiohttp_response(await oauth_flow.handle_installation(await to_bolt_request(request))))

    async def oauth_redirect(request: web.Request) -> web.Response:
        return _as_page(await to_aiohttp_response(await oauth_flow.handle_callback(await to_bolt_request(request))))

    web_app.router.add_get(oauth_flow.install_path, install)
    web_app.router.add_get(oauth_flow.redirect_uri_path, oauth_redirect)


def _as_page(response: web.Response) -> web.Response:
    """The headers of every qc-bot page, on Bolt's answers too (the redirect to Slack carries the install state)."""
    response.headers.update(pages.PAGE_HEADERS)
    return response
