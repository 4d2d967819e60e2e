"""Every dedupe key of the outbox (storage.notifications), built here and nowhere else.

A key names what a message is about; the outbox keeps the first message queued under a key, so each
key is a promise that its message goes out once, across restarts and racing processes. Keys are stored,
so their formats are part of the schema: a database written by an earlier version holds keys in exactly
these formats, and changing one would send again what was already sent (a new format needs a migration
that rewrites the stored keys). `tests/storage/test_outbox_keys.py` pins each format.

Connection-scoped keys (one connect journey; the connection id is a uuid4 hex):

    status:<connection id>        the journey's one status message: its card in the channel, posted when the
                                  authorization succeeded (or, for a journey that ended before, the requester's
                                  private word why it failed)
    outcome:<connection id>       the edit of the card with the journey's end: set up (the sign-in being proved)
                                  or failed
    reveal:<connection id>        the journey's one-time offer to reveal the consumer key and secret
    proof:<connection id>         the edit of the card with the outcome of the live sign-in
    confirm:<connection id>       the requester's question whether an authorization made with their link is theirs

Rotation-scoped keys (one `/qc rotate-secret`; the rotation id is a uuid4 hex):

    rotation:<rotation id>:<event>   <event> is `reveal` (the requester's offer to reveal the new credentials),
                                     `done` (the channel's account, once proven), `retired` (old ones retired),
                                     `done-retired` (the edit of `done` then, without its Retire button)
                                     or `failed` (the requester is told why it stopped)

Org-scoped keys begin with `<kind>:<team id>:<org id>:` (`org_scope`), so everything queued of one kind
for one org is found by that beginning (Slack team ids and Salesforce org ids hold no `:`):

    broken:<team>:<org>:<issued>                   the bot's refresh token issued at <issued> (Unix time)
                                                   stopped working
    disconnected:<team>:<org>:<nonce>              the org was disconnected (every disconnection is news)
    revoked:<team>:<org>:<nonce>                   the app's refresh tokens were revoked (`/qc revoke-tokens`)
    unreadable:<team>:<org>:<issued>:<problem>     the QualityClouds app's tokens could not be read through the
                                                   bot's refresh token issued at <issued> (Unix time), for
                                                   <problem> (bot.failures.TokenReadProblem)
    signin:<team>:<org>:<episode>:<phase>          the app's live sign-in started failing (<phase> `failing`) or
                                                   works again (`resolved`), the <episode>-th time it failed
    drift:<team>:<org>:<alert>                     the app drifted from SPEC §2: drift alert <alert> (the row of
                                                   storage.drift_alerts; a drift that comes back is a new row)
    drift-end:<team>:<org>:<alert>                 the short note that drift alert <alert> is resolved
    drift-edit:<team>:<org>:<alert>:<step>         an edit of drift alert <alert>'s message: `repairing`, `failed`
                                                   or `ended`
    expiry:<team>:<org>:<token>:<expires>:<days>   a token expires at <expires> (Unix time) in <days> days
                                                   (0: it has expired); <token> is `bot` for the bot's
                                                   own refresh token, `app:<Salesforce user id>` for a
                                                   user's token of the QualityClouds app (the tracked
                                                   token's key, storage.tracked_tokens.token_key)

Any of them may be followed by `:direct`: the same message sent to a person directly because its channel
refused it for good (`direct`), or by `:refused`: the private note to the person a message concerns that
Slack refused it as invalid and a plain-text version went out instead (`refused`). Either keeps its
original's beginning, so it belongs to the same org and is cancelled with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from storage.tracked_tokens import TrackedToken

STATUS = "status"
OUTCOME = "outcome"
REVEAL = "reveal"
PROOF = "proof"
CONFIRM = "confirm"
BROKEN = "broken"
DISCONNECTED = "disconnected"
EXPIRY = "expiry"
UNREADABLE = "unreadable"
SIGN_IN = "signin"
DRIFT = "drift"
DRIFT_END = "drift-end"
DRIFT_EDIT = "drift-edit"
ROTATION = "rotation"
REVOKED = "revoked"

WARNINGS = (EXPIRY, BROKEN, UNREADABLE, SIGN_IN, DRIFT)
"""The org-scoped kinds that warn about an org's tokens or app: pointless once the org is disconnected."""

DIRECT_SUFFIX = ":direct"
REFUSED_SUFFIX = ":refused"


def connection_status(connection_id: str) -> str:
    return f"{STATUS}:{connection_id}"


def journey_outcome(connection_id: str) -> str:
    return f"{OUTCOME}:{connection_id}"


def reveal_offer(connection_id: str) -> str:
    return f"{REVEAL}:{connection_id}"


def proof_result(connection_id: str) -> str:
    return f"{PROOF}:{connection_id}"


def authorization_question(connection_id: str) -> str:
    return f"{CONFIRM}:{connection_id}"


def rotation_message(rotation_id: str, *, event: str) -> str:
    return f"{ROTATION}:{rotation_id}:{event}"


def org_scope(kind: str, *, team_id: str, org_id: str) -> str:
    """The beginning shared by every key of `kind` about one org."""
    return f"{kind}:{team_id}:{org_id}:"


def connection_broken(*, team_id: str, org_id: str, issued_at: datetime) -> str:
    """Once per refresh token: a token issued later that breaks again is news again."""
    return f"{org_scope(BROKEN, team_id=team_id, org_id=org_id)}{int(issued_at.timestamp())}"


def app_tokens_unreadable(*, team_id: str, org_id: str, issued_at: datetime, problem: str) -> str:
    """Once per authorization and problem: the remedy is the same until someone authorizes again."""
    return f"{org_scope(UNREADABLE, team_id=team_id, org_id=org_id)}{int(issued_at.timestamp())}:{problem}"


def sign_in_changed(*, team_id: str, org_id: str, episode: int, phase: Literal["failing", "resolved"]) -> str:
    """Once per failure and once per recovery from it: a later failure is a new episode, news again."""
    return f"{org_scope(SIGN_IN, team_id=team_id, org_id=org_id)}{episode}:{phase}"


def drift_alert(*, team_id: str, org_id: str, alert_id: int) -> str:
    return f"{org_scope(DRIFT, team_id=team_id, org_id=org_id)}{alert_id}"


def drift_resolved(*, team_id: str, org_id: str, alert_id: int) -> str:
    return f"{org_scope(DRIFT_END, team_id=team_id, org_id=org_id)}{alert_id}"


def drift_alert_edit(*, team_id: str, org_id: str, alert_id: int, step: str) -> str:
    """One edit per alert and step; a repair that failed and is pressed again edits under a numbered step."""
    return f"{org_scope(DRIFT_EDIT, team_id=team_id, org_id=org_id)}{alert_id}:{step}"


def org_disconnected(*, team_id: str, org_id: str) -> str:
    return f"{org_scope(DISCONNECTED, team_id=team_id, org_id=org_id)}{uuid.uuid4().hex}"


def tokens_revoked(*, team_id: str, org_id: str) -> str:
    return f"{org_scope(REVOKED, team_id=team_id, org_id=org_id)}{uuid.uuid4().hex}"


def expiry_warning(token: TrackedToken, *, threshold: int) -> str:
    """One warning per token, expiry and threshold: when the expiry moves (the token was used under an
    inactivity policy), the warnings of the new expiry are new warnings."""
    if token.expires_at is None:
        raise ValueError(f"tracked token {token.key} has no expiry to warn about")
    scope = token_expiry_warnings(team_id=token.team_id, org_id=token.org_id, token_key=token.key)
    return f"{scope}{int(token.expires_at.timestamp())}:{threshold}"


def token_expiry_warnings(*, team_id: str, org_id: str, token_key: str) -> str:
    """The beginning of every expiry warning (and its direct copy) about one tracked token, whatever its expiry
    and threshold."""
    token_within_org = token_key.removeprefix(f"{team_id}:{org_id}:")
    if token_within_org == token_key:
        raise ValueError(f"tracked token key {token_key!r} does not begin with its team and org")
    return f"{org_scope(EXPIRY, team_id=team_id, org_id=org_id)}{token_within_org}:"


def expiry_named(key: str) -> datetime | None:
    """The expiry an `expiry:` key (or its direct copy) warns about; None for every other kind of key."""
    if not key.startswith(f"{EXPIRY}:"):
        return None
    _, expires, _threshold = key.removesuffix(DIRECT_SUFFIX).rsplit(":", 2)
    return datetime.fromtimestamp(int(expires), tz=UTC)


def direct(key: str) -> str:
    """The key of the copy of message `key` sent to a person because its channel refused it."""
    return key + DIRECT_SUFFIX


def refused(key: str) -> str:
    """The key of the private note that Slack refused message `key` as invalid."""
    return key + REFUSED_SUFFIX


def org_warnings(*, team_id: str, org_id: str) -> tuple[str, ...]:
    """The beginnings of every warning key (and its direct copy) about one org."""
    return tuple(org_scope(kind, team_id=team_id, org_id=org_id) for kind in WARNINGS)
