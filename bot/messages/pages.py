"""The browser pages of the Salesforce authorization: every word the admin reads outside Slack.

Pages are small self-contained HTML (no external assets, no scripts), and every value is escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from bot.failures import CallbackProblem, Failure, LinkProblem
from bot.messages.actions import COMMAND
from bot.messages.blocks import plain
from bot.messages.explanations import EXPLANATIONS

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
}
"""What every page of qc-bot (and the redirects that lead to them) is served with: never cached, never framed,
no referrer (the one-time values in its address stay here), and nothing but its own inline style runs."""


@dataclass(frozen=True)
class Page:
    status: int
    title: str
    html: str


_STYLE = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;margin:0;
color:#1d1c1d}
main{max-width:34rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 1rem}
p{line-height:1.5}
.ok h1{color:#007a5a}.fail h1{color:#c0392b}
a.button{display:inline-block;margin-top:1rem;padding:.6rem 1.1rem;background:#4a154b;color:#fff;
border-radius:6px;text-decoration:none;font-weight:600}
small{color:#616061}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:1rem 0}dt{font-weight:600}dd{margin:0}
"""


def _page(*, status: int, tone: str, title: str, paragraphs: list[str], link: tuple[str, str] | None = None,
          note: str | None = None, facts: list[tuple[str, str]] | None = None, link_id: str | None = None) -> Page:
    body = "".join(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs)
    if facts:
        body += "<dl>" + "".join(f"<dt>{escape(term)}</dt><dd>{escape(value)}</dd>" for term, value in facts) + "</dl>"
    if link:
        id_attribute = f' id="{escape(link_id, quote=True)}"' if link_id else ""
        body += f'<a class="button"{id_attribute} href="{escape(link[1], quote=True)}">{escape(link[0])}</a>'
    if note:
        body += f"<p><small>{escape(note)}</small></p>"
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)} · qc-bot</title><style>{_STYLE}</style></head>"
        f'<body><main class="{tone}"><h1>{escape(title)}</h1>{body}</main></body></html>'
    )
    return Page(status=status, title=title, html=html)


def slack_channel_url(*, team_id: str, channel_id: str) -> str:
    return f"https://slack.com/app_redirect?team={team_id}&channel={channel_id}"


def authorized(*, org_name: str, slack_url: str) -> Page:
    return _page(
        status=200,
        tone="ok",
        title="Authorized — you can return to Slack",
        paragraphs=[
            f"qc-bot is now setting up the QualityClouds app in {org_name}.",
            "The result, with a settings checklist, will appear in the Slack channel where you ran the command, "
            "and you will get a private button to reveal the consumer key and secret.",
        ],
        link=("Return to Slack", slack_url),
        note="You can close this tab.",
    )


CONTINUE_ID = "continue"
"""The id of the page's one way on to Salesforce (the tests' browser clicks it)."""


def before_salesforce(*, workspace: str, channel: str, requester: str, login_host: str, run_as: str | None,
                      authorize_url: str) -> Page:
    """The page before Salesforce (SPEC §6): whose request this is, so that nobody authorizes for a stranger."""
    facts = [("Slack workspace", workspace), ("Channel", channel), ("Requested by", requester),
             ("Salesforce login", login_host)]
    if run_as:
        facts.append(("Client credentials run as", run_as))
    return _page(
        status=200,
        tone="ok",
        title="Authorize qc-bot in Salesforce",
        paragraphs=[
            "qc-bot will set up the QualityClouds app in the Salesforce org you sign in to, for this Slack request:",
        ],
        facts=facts,
        link=("Continue to Salesforce", authorize_url),
        link_id=CONTINUE_ID,
        note="Not your request? Close this tab: nothing happens. Salesforce asks you to sign in and approve; if "
             "your Salesforce e-mail address is not the requester's Slack address, they must confirm in Slack "
             "before anything is set up.",
    )


def confirm_in_slack(*, org_name: str, slack_url: str) -> Page:
    return _page(
        status=200,
        tone="ok",
        title="Authorized — confirm in Slack",
        paragraphs=[
            f"Salesforce authorized {org_name}. Your Salesforce e-mail address does not prove that you are the "
            "person who asked in Slack, so nothing is set up yet.",
            "The requester has a private question in Slack naming who authorized which org; qc-bot sets up the "
            "QualityClouds app when they continue, and nothing happens if they cancel or do not answer.",
        ],
        link=("Return to Slack", slack_url),
        note="You can close this tab.",
    )


LINK_PROBLEMS: dict[LinkProblem, tuple[str, str]] = {
    LinkProblem.MISSING: ("This link is incomplete", "The address is missing its one-time code."),
    LinkProblem.UNKNOWN: ("This link is not valid", "qc-bot does not know this link. It may have been mistyped or "
                          "belong to another qc-bot."),
    LinkProblem.USED: ("This link was already used", "Each authorization link works once, so a copied or forwarded "
                       "link cannot be replayed."),
    LinkProblem.EXPIRED: ("This link has expired", "Authorization links work for 10 minutes."),
    LinkProblem.HOST_NOT_ALLOWED: ("This link's Salesforce login is no longer allowed", "The link leads to a "
                                   "Salesforce login address that this qc-bot's configuration no longer accepts."),
}
"""The title and reason of each refused link."""


def link_problem(problem: LinkProblem) -> Page:
    title, reason = LINK_PROBLEMS[problem]
    return _page(status=410 if problem is LinkProblem.EXPIRED else 400, tone="fail", title=title,
                 paragraphs=[reason, f"Run {COMMAND} connect-org in Slack to get a fresh link."])


CALLBACK_PROBLEMS: dict[CallbackProblem, tuple[str, str]] = {
    CallbackProblem.MISSING: ("Incomplete answer from Salesforce", "Salesforce sent this browser back without a "
                              "code or state."),
    CallbackProblem.UNKNOWN: ("Unknown authorization", "This authorization was not started by this qc-bot, or its "
                              "record is gone."),
    CallbackProblem.USED: ("This authorization was already completed", "A Salesforce answer is accepted once; a "
                           "repeated or replayed callback is refused."),
    CallbackProblem.EXPIRED: ("This authorization took too long", "The authorization must finish within 10 minutes "
                              "of opening the link."),
}
"""The title and reason of each refused redirect back from Salesforce."""


def callback_problem(problem: CallbackProblem) -> Page:
    title, reason = CALLBACK_PROBLEMS[problem]
    return _page(status=400, tone="fail", title=title,
                 paragraphs=[reason, f"Nothing was changed in Salesforce. Run {COMMAND} connect-org in Slack "
                             "to start again."])


def authorization_failed(*, failure: Failure, detail: str | None, slack_url: str | None) -> Page:
    """The same explanation the requester gets in Slack, as a page."""
    explanation = EXPLANATIONS[failure]
    paragraphs = [explanation.what]
    if detail:
        paragraphs.append(f"{explanation.detail_label}: {detail}")
    paragraphs.append(plain(explanation.remedy))
    return _page(status=400, tone="fail", title="Authorization did not complete", paragraphs=paragraphs,
                 link=("Return to Slack", slack_url) if slack_url else None)


# -- Slack installation (multi-workspace mode) ------------------------------------------------------------------

def slack_app_url(*, team_id: str, app_id: str) -> str:
    return f"https://slack.com/app_redirect?app={app_id}&team={team_id}"


def slack_installed(*, team_name: str, slack_url: str | None) -> Page:
    return _page(
        status=200,
        tone="ok",
        title=f"qc-bot is installed in {team_name}",
        paragraphs=[
            f"Workspace admins can now type {COMMAND} connect-org in any channel to connect a Salesforce org.",
            "Results appear in the channel where the command was typed; invite qc-bot to private channels first.",
        ],
        link=("Open Slack", slack_url) if slack_url else None,
        note="You can close this tab.",
    )


INSTALL_PROBLEMS = {
    "access_denied": ("Installation cancelled", "The installation was cancelled on Slack's page, so nothing was "
                      "installed."),
    "invalid_browser": ("Installation started elsewhere", "This browser did not start the installation, or its "
                        "cookie expired. Start again from this qc-bot's /slack/install page in one browser."),
    "invalid_state": ("This installation link expired or was used", "Installation links work once, for 10 "
                      "minutes."),
    "missing_code": ("Slack did not confirm the installation", "Slack sent this browser back without an "
                     "authorization code."),
    "invalid_code": ("Slack did not confirm the installation", "Slack refused the authorization code; it may "
                     "have expired or been used already."),
    "storage_error": ("The installation could not be saved", "qc-bot could not store the installation. Your "
                      "qc-bot operator will find the details in the bot's log."),
}


def slack_install_busy() -> Page:
    return _page(status=429, tone="fail", title="Too many installations started",
                 paragraphs=["This qc-bot received more installation requests than it takes in a short time, so it "
                             "did not start this one.", "Wait a minute, then open /slack/install again."])


SLACK_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
"""What a Slack error code looks like; anything else in an `error` parameter is not Slack's and is not repeated."""


def slack_install_failed(reason: str) -> Page:
    said = f"Slack reported: {reason}." if SLACK_ERROR_CODE.fullmatch(reason) else "Slack reported an error."
    title, explanation = INSTALL_PROBLEMS.get(reason, ("Installation failed", said))
    return _page(status=400, tone="fail", title=title,
                 paragraphs=[explanation, "Open /slack/install on this qc-bot to try again."])
