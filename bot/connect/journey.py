"""The connect-org journey of SPEC §1 as a persisted state machine:

    pending_auth → [awaiting_confirmation →] authorized → provisioning → provisioned | failed

A link provisions only for its requester (SPEC §6). When the Salesforce user who authorized has a verified
e-mail address equal to the requester's in Slack, the journey goes on at once. Otherwise (no match, an
unverified address, or Slack would not say) it waits in `awaiting_confirmation`, holding the tokens encrypted
on the connection, until the requester answers a private Continue/Cancel naming who authorized which org;
nothing is deployed before. A mismatch is not a dead end, because addresses legitimately differ (integration
users, sandboxes whose addresses end in `.invalid`); an unanswered question lapses, and the tokens are revoked.

A provisioned connection then proves the app's credentials with a live sign-in (`bot.connect.proof`): a
field of the connection (`proof_status`: proving → proved | failed, or not_run), not a status of its own,
because the journey's outcome (the app is set up) no longer changes; the proof only edits the status
message in place once it has an outcome.

Every step is one transaction that moves the connection forward with a compare-and-set, so a step
runs once even when requests race. The process working on a journey (authorized → provisioning → proving) holds
its lease (storage.leases) and renews it; every replica looks every few seconds for unfinished journeys whose
lease lapsed, because the process holding it died, and takes them over (`adopt_unfinished`), never one whose
lease is alive. Provisioning also holds the org's lease (`leases.org`), waited for if another journey, a repair or
a rotation of the org holds it, on this replica or another: one change of an org's app at a time; the proof runs
outside it. A deploy in flight is resumed by polling it (`pending_deploy_id`), never deployed again.
Results reach Slack only through the outbox, in the same transaction as the status change that produced them.
The channel hears of a journey through one card (SPEC §3), queued with the move to `authorized` and becoming the
org's card; the journey's end and the proof's outcome are edits of it (`outbox_keys.journey_outcome`,
`outbox_keys.proof_result`): one card per connection, never zero, never two. A journey that ends before any org
was authorized tells only its requester.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot import messages
from bot.clock import Clock
from bot.config import Settings
from bot.connect.links import ConnectLink, LinkRefused, LinkSeal
from bot.connect.proof import SignInProver
from bot.errors import CommandSyntaxError, LoginHostError
from bot.failures import (
    CallbackProblem,
    ConfirmProblem,
    Failure,
    LinkProblem,
    ProofProblem,
    failure_of,
    failure_of_authorize_error,
)
from bot.leases import Leases
from bot.ops.metrics import Metrics
from bot.orgs.access import OrgAccess
from bot.provisioning.credential_access import CredentialReader, StoredChangeJournal, left_behind_item
from bot.provisioning.provisioner import Provisioner, ProvisioningRequest, ProvisioningResult
from bot.provisioning.settings import AppKind
from bot.redaction import Secret, mask, redact
from bot.salesforce.errors import SalesforceError, SalesforceUnavailable
from bot.salesforce.metadata import MetadataComponent
from bot.salesforce.oauth import Identity, TokenResponse, new_code_verifier, new_state
from bot.salesforce.rest import AppCredentials
from bot.slack.clients import ResponseUrlReply, SlackClients
from bot.slack.commands import ConnectOrg
from bot.slack.outbox import SlackDelivery
from bot.slack.people import email_of
from bot.timings import Timings
from storage import leases, outbox_keys
from storage.connections import Connection, ConnectionStatus, Environment
from storage.crypto import SecretBox
from storage.database import Repositories, Store
from storage.orgs import OrgRecord
from storage.temporary_changes import TemporaryChange

logger = logging.getLogger(__name__)

MAX_RESUMES = 3
"""How many restarts a provisioning attempt survives before it is reported as failed."""


@dataclass
class _Journal:
    """What one provisioning attempt hands to the next: the deploy in flight, the credentials generated."""

    deploy_id: str | None
    credentials: AppCredentials | None


def _change_journal(*, store: Store, clock: Clock, connection: Connection) -> StoredChangeJournal:
    """The temporary org changes of one connection."""
    assert connection.org_id is not None
    return StoredChangeJournal(store=store, clock=clock, owner_id=connection.id, team_id=connection.team_id,
                               org_id=connection.org_id)


@dataclass(frozen=True, kw_only=True)
class _Authorization:
    """What Salesforce's answer established: the tokens, who signed in, and which org."""

    token: TokenResponse
    identity: Identity
    org_name: str
    is_sandbox: bool

    def sealed(self) -> Secret:
        """As one secret, to hold on the connection while the requester decides."""
        token = self.token
        return Secret(json.dumps({
            "access_token": token.access_token.reveal(),
            "refresh_token": token.refresh_token.reveal() if token.refresh_token else None,
            "instance_url": token.instance_url, "identity_url": token.identity_url, "org_id": token.org_id,
            "user_id": token.user_id, "issued_at": token.issued_at.timestamp(),
            "username": self.identity.username, "email": self.identity.email,
            "email_verified": self.identity.email_verified, "org_name": self.org_name, "is_sandbox": self.is_sandbox,
        }))

    @classmethod
    def unsealed(cls, held: Secret) -> _Authorization:
        fields = json.loads(held.reveal())
        token = TokenResponse(
            access_token=Secret(fields["access_token"]),
            refresh_token=Secret(fields["refresh_token"]) if fields["refresh_token"] else None,
            instance_url=fields["instance_url"], identity_url=fields["identity_url"], org_id=fields["org_id"],
            user_id=fields["user_id"], issued_at=datetime.fromtimestamp(fields["issued_at"], tz=UTC),
        )
        identity = Identity(user_id=token.user_id, org_id=token.org_id, username=fields["username"],
                            email=fields["email"], email_verified=fields["email_verified"])
        return cls(token=token, identity=identity, org_name=fields["org_name"], is_sandbox=fields["is_sandbox"])

    @property
    def revocable(self) -> Secret:
        return self.token.refresh_token or self.token.access_token


def _same_person(identity: Identity, requester_email: str | None) -> bool:
    """The Salesforce user is provably the requester: the same verified e-mail address (case aside)."""
    return bool(identity.email_verified and identity.email and requester_email
                and identity.email.casefold() == requester_email.casefold())


@dataclass(frozen=True, kw_only=True)
class Decided:
    """The answer to the requester's Continue/Cancel click."""

    problem: ConfirmProblem | None = None
    org_name: str | None = None


@dataclass(frozen=True)
class LoginTarget:
    environment: Environment
    login_url: str


def resolve_target(target: str, *, settings: Settings) -> LoginTarget:
    """`production`, `sandbox` or a My Domain URL (checked against the host rules) → where to log in."""
    lowered = target.lower()
    if lowered in ("production", "prod"):
        return LoginTarget("production", settings.salesforce_login_url)
    if lowered in ("sandbox", "test"):
        return LoginTarget("sandbox", settings.salesforce_sandbox_login_url)
    url = target if "://" in target else "https://" + target
    try:
        origin = settings.host_policy.require_salesforce_url(url, what="My Domain URL")
    except LoginHostError as exc:
        raise CommandSyntaxError(
            f"{exc} Use `production`, `sandbox` or your My Domain URL such as https://acme.my.salesforce.com."
        ) from exc
    return LoginTarget("my_domain", origin)


@dataclass(frozen=True, kw_only=True)
class Begun:
    link_url: str
    login_url: str
    run_as: str | None
    expires_at: datetime


class _LinkAlreadyUsed(Exception):
    """Raised inside the transaction that opens a link, to roll it back."""


@dataclass(frozen=True)
class LinkOpened:
    authorize_url: str | None
    problem: LinkProblem | None = None
    link: ConnectLink | None = None
    """The request the link carried, for the page that names it before the browser goes to Salesforce."""


@dataclass(frozen=True, kw_only=True)
class SlackNames:
    """Slack's names for the team, channel and requester, when the request carried them."""

    team: str | None = None
    channel: str | None = None
    user: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallbackOutcome:
    """What the browser is told after Salesforce sent it back."""

    kind: Literal["authorized", "awaiting_confirmation", "state_problem", "failed"]
    team_id: str | None = None
    channel_id: str | None = None
    org_name: str | None = None
    problem: CallbackProblem | None = None
    failure_code: Failure | None = None
    failure_detail: str | None = None


@dataclass(frozen=True, kw_only=True)
class _AuditEntry:
    action: str
    target: str | None
    outcome: str
    detail: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class _Ending:
    """How one journey ends; `ConnectJourney._end_each` writes it."""

    connection: Connection
    expected: tuple[ConnectionStatus, ...]
    to: Literal["provisioned", "failed"]
    message: messages.SlackMessage
    private: bool = False
    """True: only the requester sees the message. False: the channel does, or the requester directly if the
    channel refuses it."""
    audit: _AuditEntry | None = None
    failure_code: Failure | None = None
    failure_message: str | None = None
    app_kind: str | None = None
    checklist: list[dict[str, Any]] | None = None
    also: Callable[[Repositories], None] | None = None
    """More to write in the same transaction once the connection moved, before its status message is queued."""


class ConnectJourney:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        secret_box: SecretBox,
        clock: Clock,
        access: OrgAccess,
        delivery: SlackDelivery,
        slack_clients: SlackClients,
        timings: Timings,
        reply_to: Callable[[str], ResponseUrlReply],
        metrics: Metrics,
        leases: Leases,
    ) -> None:
        """`reply_to` answers through a slash command's response_url (to replace a used link's message)."""
        self._settings = settings
        self._store = store
        self._secret_box = secret_box
        self._links = LinkSeal(keys=settings.encryption_keys)
        self._clock = clock
        self._access = access
        self._oauth = access.oauth
        self._delivery = delivery
        self._slack_clients = slack_clients
        self._timings = timings
        self._reply_to = reply_to
        self._metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()
        self._working_on: set[str] = set()
        """Connections this process has a task for: its own lease covers them, adoption must leave them alone."""
        self._leases = leases
        self._closing = False
        self._prover = SignInProver(oauth=self._oauth, clock=clock, retry=timings.proof_retry,
                                    window=timings.proof_window)

    # -- step 1: the slash command -------------------------------------------------------------------------

    def begin(
        self, *, team_id: str, enterprise_id: str | None, user_id: str, channel_id: str, command: ConnectOrg,
        names: SlackNames | None = None, response_url: str | None = None,
    ) -> Begun:
        """Mint the private link; nothing is written until it is opened, so the acknowledgement stays cheap. The
        slash command's `response_url` rides in the sealed link, so that opening it can retire the message that
        offered it."""
        target = resolve_target(command.target, settings=self._settings)
        names = names or SlackNames()
        link = ConnectLink(team_id=team_id, enterprise_id=enterprise_id, user_id=user_id, channel_id=channel_id,
                           environment=target.environment, login_url=target.login_url, run_as=command.run_as,
                           expires_at=self._clock.now() + self._timings.link_ttl, team_name=names.team,
                           channel_name=names.channel, user_name=names.user, response_url=response_url)
        token = self._links.seal(link)
        return Begun(link_url=f"{self._settings.oauth_start_url}?link={token}", login_url=target.login_url,
                     run_as=link.run_as, expires_at=link.expires_at)

    # -- step 2: the link is opened ------------------------------------------------------------------------

    async def open_link(self, *, link_token: str) -> LinkOpened:
        """Use the one-time link: record the connection and mint a fresh `state` and PKCE verifier."""
        try:
            link = self._links.open(link_token)
        except LinkRefused:
            logger.info("Authorization link refused: not one of ours")
            return LinkOpened(None, LinkProblem.UNKNOWN)
        now = self._clock.now()
        if link.expires_at <= now:
            return LinkOpened(None, LinkProblem.EXPIRED)
        connection_id = uuid.uuid4().hex
        state, verifier = new_state(), new_code_verifier()
        try:
            authorize_url = self._oauth.authorize_url(login_url=link.login_url, state=state, code_verifier=verifier)
        except LoginHostError:
            # SALESFORCE_ALLOWED_HOSTS changed since the link was minted: the browser hears why, nothing is made.
            logger.warning("An authorization link names a login host that is no longer allowed")
            return LinkOpened(None, LinkProblem.HOST_NOT_ALLOWED)

        def open_connection(repos: Repositories) -> None:
            repos.connections.create(
                connection_id=connection_id, team_id=link.team_id, enterprise_id=link.enterprise_id,
                user_id=link.user_id, channel_id=link.channel_id, environment=link.environment,
                login_url=link.login_url, run_as=link.run_as, now=now,
            )
            if not repos.oauth_states.claim_link(link_nonce=link.nonce, connection_id=connection_id,
                                                 expires_at=link.expires_at, now=now):
                raise _LinkAlreadyUsed
            repos.oauth_states.create_state(connection_id=connection_id, state=state, code_verifier=verifier,
                                            expires_at=now + self._timings.state_ttl)
            repos.audit.append(at=now, team_id=link.team_id, actor=link.user_id, action="link_opened",
                               target=link.login_url, outcome="redirected_to_salesforce",
                               detail={"connection": connection_id, "run_as": link.run_as})

        try:
            await self._store.run(open_connection)
        except _LinkAlreadyUsed:
            logger.warning("An authorization link was opened a second time (replay or a shared link)")
            return LinkOpened(None, LinkProblem.USED)
        if link.response_url:
            task = asyncio.create_task(self._retire_link_message(link.response_url), name="link-used")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return LinkOpened(authorize_url, link=link)

    async def _retire_link_message(self, response_url: str) -> None:
        """Replace the requester's "Authorize in Salesforce" answer with a short "link used" note, so a used link
        no longer looks clickable. Best effort and off the page's path: the link is single-use either way."""
        try:
            await self._reply_to(response_url)(**messages.link_used().as_payload(), replace_original=True)
        except Exception as exc:  # Slack unreachable: the note is a courtesy, the link is refused anyway
            logger.info("Could not mark the used link's message in Slack (%s)", exc.__class__.__name__)

    # -- step 3: Salesforce sends the browser back ---------------------------------------------------------

    async def complete_authorization(
        self, *, state: str | None, code: str | None, error: str | None, error_description: str | None
    ) -> CallbackOutcome:
        if not state:
            return CallbackOutcome(kind="state_problem", problem=CallbackProblem.MISSING)
        now = self._clock.now()

        def consume(repos: Repositories) -> tuple[Connection | None, CallbackProblem | None, Secret | None]:
            consumed = repos.oauth_states.consume_state(state=state, now=now)
            connection = repos.connections.get(consumed.connection_id) if consumed.connection_id else None
            if consumed.problem is None and connection is not None and connection.status != "pending_auth":
                return connection, CallbackProblem.USED, None
            if consumed.problem is None and connection is not None:
                # The answer is in: the sweep of abandoned authorizations must give this one time to finish.
                repos.connections.touch(connection.id, now=now)
            return connection, consumed.problem, consumed.code_verifier

        connection, problem, verifier = await self._store.run(consume)
        if problem is not None or connection is None or verifier is None:
            logger.warning("Salesforce callback refused: state %s", problem)
            if problem is CallbackProblem.USED and connection is not None:
                await self._audit(connection, action="callback_replayed", outcome="refused")
            return CallbackOutcome(kind="state_problem", problem=problem or CallbackProblem.UNKNOWN)
        if error:
            return await self._authorization_failed(connection, failure_of_authorize_error(error, error_description),
                                                    f"{error}: {error_description or ''}")
        if not code:
            return await self._authorization_failed(connection, Failure.TOKEN_EXCHANGE_FAILED,
                                                    "no authorization code")
        try:
            token = await self._oauth.exchange_code(login_url=connection.login_url, code=code, code_verifier=verifier)
            identity = await self._oauth.identity(token=token)
            org = await self._read_organization(token)
        except SalesforceError as exc:
            failure, detail = failure_of(exc)
            return await self._authorization_failed(connection, failure, detail or exc.message)
        authorization = _Authorization(token=token, identity=identity, org_name=org[0], is_sandbox=org[1])
        requester_email = await email_of(clients=self._slack_clients, team_id=connection.team_id,
                                         user_id=connection.user_id)
        if not _same_person(identity, requester_email):
            return await self._ask_requester(connection, authorization, requester_email=requester_email)
        now = self._clock.now()
        if not await self._store.run(lambda repos: _write_authorization(repos, connection, authorization,
                                                                         expected="pending_auth", now=now)):
            # The journey ended meanwhile: the tokens just issued must not live on unused.
            await self._revoke(connection.login_url, authorization.revocable)
            return CallbackOutcome(kind="state_problem", problem=CallbackProblem.USED)
        self._delivery.wake()
        self.schedule(connection.id)
        return CallbackOutcome(kind="authorized", team_id=connection.team_id, channel_id=connection.channel_id,
                               org_name=authorization.org_name)

    async def _ask_requester(
        self, connection: Connection, authorization: _Authorization, *, requester_email: str | None
    ) -> CallbackOutcome:
        """Hold the authorization and ask the requester, privately, whether it is theirs."""
        now = self._clock.now()
        confirm_by = now + self._timings.confirm_ttl
        identity = authorization.identity
        question = messages.authorization_to_confirm(
            who=messages.WhoAuthorized(org_name=authorization.org_name, org_id=authorization.token.org_id,
                                       is_sandbox=authorization.is_sandbox, username=identity.username,
                                       email=identity.email, email_verified=identity.email_verified,
                                       requester_email=requester_email),
            connection_id=connection.id, confirm_by=confirm_by)

        def hold(repos: Repositories) -> bool:
            if not repos.connections.hold_for_confirmation(connection.id, org_id=authorization.token.org_id,
                                                           held=authorization.sealed(), confirm_by=confirm_by,
                                                           now=now):
                return False
            repos.notifications.enqueue(dedupe_key=outbox_keys.authorization_question(connection.id),
                                        team_id=connection.team_id, channel_id=connection.channel_id,
                                        user_id=connection.user_id, payload=question.as_payload(), now=now)
            repos.audit.append(at=now, team_id=connection.team_id, actor=connection.user_id, action="authorize",
                               target=authorization.token.org_id, outcome="awaiting_confirmation",
                               detail={"connection": connection.id, "salesforce_user": identity.username,
                                       "email_verified": identity.email_verified,
                                       "requester_email_known": requester_email is not None})
            return True

        if not await self._store.run(hold):
            await self._revoke(connection.login_url, authorization.revocable)
            return CallbackOutcome(kind="state_problem", problem=CallbackProblem.USED)
        self._delivery.wake()
        logger.info("Connection %s waits for its requester to confirm who authorized", connection.id)
        return CallbackOutcome(kind="awaiting_confirmation", team_id=connection.team_id,
                               channel_id=connection.channel_id, org_name=authorization.org_name)

    async def confirm(self, *, team_id: str, user_id: str, connection_id: str) -> Decided:
        """The requester's Continue: the held authorization becomes the org's, and provisioning starts. Only
        the requester, once, before the question lapses."""
        now = self._clock.now()

        def decide(repos: Repositories) -> Decided:
            connection = repos.connections.get(connection_id)
            problem = _confirm_problem(connection, team_id=team_id, user_id=user_id, now=now)
            if problem is not None or connection is None:
                return Decided(problem=problem or ConfirmProblem.DECIDED)
            held = repos.connections.held_authorization(connection.id)
            if held is None:
                return Decided(problem=ConfirmProblem.DECIDED)
            authorization = _Authorization.unsealed(held)
            if not _write_authorization(repos, connection, authorization, expected="awaiting_confirmation", now=now):
                return Decided(problem=ConfirmProblem.DECIDED)
            return Decided(org_name=authorization.org_name)

        decided = await self._store.run(decide)
        await self._record_decision(team_id=team_id, user_id=user_id, connection_id=connection_id,
                                    action="authorization_confirmed", problem=decided.problem, now=now)
        if decided.problem is None:
            self._delivery.wake()
            self.schedule(connection_id)
        return decided

    async def cancel(self, *, team_id: str, user_id: str, connection_id: str) -> Decided:
        """The requester's Cancel: the journey fails, nothing is deployed, the tokens are revoked."""
        now = self._clock.now()

        def read(repos: Repositories) -> tuple[Connection | None, ConfirmProblem | None, Secret | None]:
            connection = repos.connections.get(connection_id)
            problem = _confirm_problem(connection, team_id=team_id, user_id=user_id, now=now)
            held = repos.connections.held_authorization(connection_id) if problem is None else None
            return connection, problem, held

        connection, problem, held = await self._store.run(read)
        if problem is None and connection is not None:
            explanation = Failure.AUTHORIZATION_CANCELLED
            ended = await self._end(_Ending(
                connection=connection, expected=("awaiting_confirmation",), to="failed", failure_code=explanation,
                failure_message="the requester cancelled", private=True,
                message=messages.connection_failed(code=explanation, detail=None, org_label=None,
                                                   requester=connection.user_id, connection_id=connection.id),
            ), now=now)
            if not ended:
                problem = ConfirmProblem.DECIDED
            elif held is not None:
                await self._revoke(connection.login_url, _Authorization.unsealed(held).revocable)
        await self._record_decision(team_id=team_id, user_id=user_id, connection_id=connection_id,
                                    action="authorization_cancelled", problem=problem, now=now)
        return Decided(problem=problem)

    async def _record_decision(self, *, team_id: str, user_id: str, connection_id: str, action: str,
                               problem: ConfirmProblem | None, now: datetime) -> None:
        await self._store.run(lambda repos: repos.audit.append(
            at=now, team_id=team_id, actor=user_id, action=action, target=connection_id,
            outcome="done" if problem is None else f"refused:{problem}"))

    async def _revoke(self, login_url: str, token: Secret) -> None:
        with contextlib.suppress(SalesforceError, LoginHostError):
            await self._oauth.revoke(login_url=login_url, token=token)

    async def _read_organization(self, token: TokenResponse) -> tuple[str, bool]:
        rest = self._access.rest_with(instance_url=token.instance_url, access_token=token.access_token)
        records = await rest.query("SELECT Id, Name, IsSandbox FROM Organization")
        record = records[0] if records else {}
        return str(record.get("Name") or token.org_id), bool(record.get("IsSandbox"))

    async def _authorization_failed(self, connection: Connection, code: Failure, detail: str) -> CallbackOutcome:
        """End a journey that failed before any org was touched; only the requester hears about it."""
        now = self._clock.now()
        detail = redact(detail)  # foreign text: it must not carry a secret into Slack or the database
        message = messages.connection_failed(code=code, detail=detail, org_label=None,
                                             requester=connection.user_id, connection_id=connection.id)

        await self._end(_Ending(
            connection=connection, expected=("pending_auth",), to="failed", failure_code=code, failure_message=detail,
            message=message, private=True,
            audit=_AuditEntry(action="authorize", target=connection.login_url, outcome=f"failed:{code}",
                              detail={"connection": connection.id}),
        ), now=now)
        logger.info("Authorization for connection %s failed: %s", connection.id, code)
        return CallbackOutcome(kind="failed", team_id=connection.team_id, channel_id=connection.channel_id,
                               failure_code=code, failure_detail=detail)

    # -- steps 4-6: provisioning ---------------------------------------------------------------------------

    def schedule(self, connection_id: str) -> None:
        if connection_id in self._working_on:
            return
        task = asyncio.create_task(self.provision(connection_id), name=f"provision-{connection_id}")
        self._tasks.add(task)
        self._working_on.add(connection_id)
        task.add_done_callback(lambda done: self._provisioning_ended(done, connection_id))

    def _provisioning_ended(self, task: asyncio.Task[None], connection_id: str) -> None:
        """A provisioning task that crashed (the database refused a write, say) is tried again later; each
        try counts as a resume, so one that keeps crashing ends as failed with a message after MAX_RESUMES."""
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None or self._closing:
            self._working_on.discard(connection_id)
            return
        # Still this process's to retry (adoption leaves it alone meanwhile), after the wait, not at the next round.
        logger.error("Provisioning connection %s crashed; trying again", connection_id, exc_info=task.exception())
        asyncio.get_running_loop().call_later(self._timings.provisioning_retry.maximum, self._schedule_unless_closing,
                                              connection_id)

    def _schedule_unless_closing(self, connection_id: str) -> None:
        self._working_on.discard(connection_id)
        if not self._closing:
            self.schedule(connection_id)

    async def adopt_unfinished(self, *, reclaim_own: bool = False) -> int:
        """Take over every connection left authorized or provisioning, or still proving, whose lease lapsed (the
        process working on it died); with `reclaim_own` (at start-up), also those this replica's claim id holds
        (its previous process's, killed before it let them go); return how many."""
        now = self._clock.now()
        holder = self._leases.holder if reclaim_own else None
        unfinished = [connection for connection in await self._store.run(
            lambda repos: repos.connections.adoptable(now=now, reclaiming=holder))
            if connection.id not in self._working_on]
        for connection in unfinished:
            logger.info("Resuming connection %s (%s)", connection.id, connection.status)
            self.schedule(connection.id)
        return len(unfinished)

    async def expire_abandoned(self) -> int:
        """Close journeys whose authorization ran out in Salesforce, or whose requester never confirmed it,
        telling the requester privately."""
        now = self._clock.now()
        # A state lives state_ttl; a minute more lets a callback already under way finish first.
        cutoff = now - self._timings.state_ttl - timedelta(minutes=1)

        unconfirmed: list[tuple[str, Secret]] = []

        def expired(repos: Repositories) -> Iterable[_Ending]:
            endings = [_Ending(connection=connection, expected=("pending_auth",), to="failed",
                               failure_code=Failure.AUTHORIZATION_NOT_COMPLETED,
                               failure_message="the authorization link expired unused",
                               message=messages.authorization_expired(), private=True)
                       for connection in repos.connections.pending_auth_since(before=cutoff)]
            for connection in repos.connections.confirmation_lapsed(now=now):
                held = repos.connections.held_authorization(connection.id)
                if held is not None:
                    unconfirmed.append((connection.login_url, _Authorization.unsealed(held).revocable))
                endings.append(_Ending(
                    connection=connection, expected=("awaiting_confirmation",), to="failed",
                    failure_code=Failure.CONFIRMATION_NOT_GIVEN, failure_message="the requester did not confirm",
                    private=True, message=messages.connection_failed(
                        code=Failure.CONFIRMATION_NOT_GIVEN, detail=None, org_label=None,
                        requester=connection.user_id, connection_id=connection.id)))
            return endings

        ended = await self._end_each(expired, now=now)
        for login_url, token in unconfirmed:
            await self._revoke(login_url, token)
        return ended

    async def provision(self, connection_id: str) -> None:
        """Provision (unless done), then prove the credentials (unless proved); either may be resuming. Under
        the journey's lease: nothing happens if another replica holds it, and the work stops (at the next await)
        if another replica took it over because this one stalled past the lease."""
        async with self._leases.holding(leases.journey(connection_id), cancel_on_loss=True) as lease:
            if lease is None:
                logger.info("Connection %s is in the hands of another replica", connection_id)
                return
            await self._provision_leased(connection_id)

    async def _provision_leased(self, connection_id: str) -> None:
        connection = await self._store.run(lambda repos: repos.connections.get(connection_id))
        if connection is None or connection.org_id is None:
            return
        if connection.status in ("authorized", "provisioning"):
            # One change of an org's app at a time, whichever replica runs it: two deploys of one External Client
            # App side by side would race. Waiting, the journey stays `authorized` under its own lease (renewed),
            # so a replica that dies meanwhile leaves it to be adopted.
            async with self._leases.waiting_for(leases.org(team_id=connection.team_id, org_id=connection.org_id),
                                                work=leases.journey(connection_id)):
                await self._provision_exclusively(connection_id)
        # Outside the org's lease: a proof may wait minutes for Salesforce, a new journey need not wait for it.
        await self._prove(connection_id)

    async def _provision_exclusively(self, connection_id: str) -> None:
        now = self._clock.now()

        def start(repos: Repositories) -> tuple[Connection | None, OrgRecord | None, int]:
            connection = repos.connections.get(connection_id)
            if connection is None or connection.status not in ("authorized", "provisioning"):
                return None, None, 0
            if connection.status == "provisioning":
                resumes = repos.connections.count_resume(connection_id)
            else:
                repos.connections.transition(connection_id, expected=["authorized"], to="provisioning", now=now)
                resumes = 0
            assert connection.org_id is not None
            return connection, repos.orgs.get(team_id=connection.team_id, org_id=connection.org_id), resumes

        connection, org, resumes = await self._store.run(start)
        if connection is None:
            return
        if resumes > MAX_RESUMES:
            # A journey that brings the process down every time must end, not loop forever; what it turned on in
            # the org for a credentials read is still undone.
            stopped = f"provisioning was interrupted {resumes} times; qc-bot stopped retrying it"
            if org is not None and org.access_token is not None:
                left = await self._restore_temporary_changes(connection, org)
                if left:
                    stopped += "; " + left_behind_item(left).detail
            await self._fail(connection, org, Failure.INTERNAL_ERROR, stopped)
            return
        if org is None or org.access_token is None:
            await self._fail(connection, None, Failure.SESSION_EXPIRED, "the org's tokens are no longer stored")
            return
        try:
            result = await self._provision_with_retries(connection, org)
            await self._succeed(connection, org, result)
        except Exception as exc:
            failure, detail = failure_of(exc)
            if failure is Failure.INTERNAL_ERROR:
                logger.exception("Provisioning connection %s failed unexpectedly", connection.id)
            await self._fail(connection, org, failure, detail)

    async def _provision_with_retries(self, connection: Connection, org: OrgRecord) -> ProvisioningResult:
        """Provision; when Salesforce answered "try later" (a request limit, a setup lock held by another deploy)
        or a deploy went unanswered, start over from reading the org, with backoff within a bounded total time.
        A request Salesforce did not answer was already retried by the HTTP layer: its `SalesforceUnavailable`
        ends the journey, not another round here."""
        session = self._access.session(org)
        provisioner = Provisioner(
            metadata=self._access.metadata(session),
            rest=self._access.rest(session),
            deploy_poll=self._timings.deploy_poll,
        )
        journal = _Journal(
            deploy_id=connection.pending_deploy_id,
            credentials=AppCredentials(org.consumer_key, org.consumer_secret) if org.consumer_key else None,
        )

        async def record_deploy(deploy_id: str | None) -> None:
            journal.deploy_id = deploy_id
            await self._store.run(lambda repos: repos.connections.set_pending_deploy(connection.id,
                                                                                     deploy_id=deploy_id))

        async def remember_credentials(kind: AppKind, key: Secret, secret: Secret) -> None:
            journal.credentials = AppCredentials(key, secret)
            now = self._clock.now()
            await self._store.run(lambda repos: repos.orgs.save_app(
                team_id=org.team_id, org_id=org.org_id, app_kind=kind.value, consumer_key=key,
                consumer_secret=secret, now=now))

        attempts = self._timings.provisioning_retry.start()
        while True:
            request = ProvisioningRequest(
                desired=self._settings.desired_app,
                run_as=connection.run_as or org.salesforce_username,
                run_as_is_requester=connection.run_as is None
                or connection.run_as.lower() == org.salesforce_username.lower(),
                app_kind=self._settings.app_kind,
                known_credentials=journal.credentials,
                remember_credentials=remember_credentials,
                record_deploy=record_deploy,
                admin_user_id=org.salesforce_user_id,
                journal=_change_journal(store=self._store, clock=self._clock, connection=connection),
                interrupted_deploy_id=journal.deploy_id,
            )
            try:
                return await provisioner.provision(request)
            except SalesforceError as exc:
                if not exc.transient or isinstance(exc, SalesforceUnavailable):
                    raise
                delay = attempts.next_delay()
                if delay is None:
                    raise SalesforceUnavailable(exc.message, code=exc.code) from exc
                logger.info("Provisioning connection %s hit a transient error (%s); retrying in %.1fs",
                            connection.id, exc.code or exc.__class__.__name__, delay)
                await asyncio.sleep(delay)

    async def _restore_temporary_changes(self, connection: Connection, org: OrgRecord) -> list[TemporaryChange]:
        """Undo what an interrupted credentials read turned on, for a journey that ends without provisioning."""
        session = self._access.session(org)
        metadata = self._access.metadata(session)

        async def deploy(components: list[MetadataComponent]) -> None:
            await metadata.deploy(components, poll=self._timings.deploy_poll)

        reader = CredentialReader(metadata=metadata, rest=self._access.rest(session), deploy=deploy,
                                  journal=_change_journal(store=self._store, clock=self._clock,
                                                               connection=connection),
                                  user_id=org.salesforce_user_id)
        return await reader.restore_pending()

    async def _succeed(self, connection: Connection, org: OrgRecord, result: ProvisioningResult) -> None:
        now = self._clock.now()
        reveal_id = uuid.uuid4().hex
        view = messages.ConnectedOrg(
            org_name=org.org_name, org_id=org.org_id, is_sandbox=org.is_sandbox, instance_url=org.instance_url,
            app_kind_label=result.kind.label, app_name=self._settings.desired_app.api_name, created=result.created,
            consumer_key_mask=mask(result.consumer_key.reveal()) if result.consumer_key else None,
            consumer_secret_mask=mask(result.consumer_secret.reveal()) if result.consumer_secret else None,
            secret_unavailable=result.secret_unavailable_reason, checklist=result.checklist,
            requester=connection.user_id,
        )
        can_prove = result.consumer_key is not None and result.consumer_secret is not None
        proof = messages.SignInProof(status="proving" if can_prove else "not_run",
                                     run_as=connection.run_as or org.salesforce_username,
                                     problem=None if can_prove else ProofProblem.SECRET_UNKNOWN)
        status = messages.org_connected(view, proof=proof)
        offer = messages.reveal_offer(reveal_id=reveal_id, org_name=org.org_name,
                                      expires_minutes=int(self._timings.reveal_ttl.total_seconds() // 60))

        policy = result.refresh_token_policy or self._settings.desired_app.refresh_token_policy

        def keep_app(repos: Repositories) -> None:
            if result.consumer_key is not None:
                repos.orgs.save_app(team_id=org.team_id, org_id=org.org_id, app_kind=result.kind.value,
                                    consumer_key=result.consumer_key, consumer_secret=result.consumer_secret, now=now)
                repos.reveals.create(reveal_id=reveal_id, connection_id=connection.id, team_id=connection.team_id,
                                     user_id=connection.user_id, now=now, expires_at=now + self._timings.reveal_ttl)
                repos.notifications.enqueue(dedupe_key=outbox_keys.reveal_offer(connection.id),
                                            team_id=connection.team_id, channel_id=connection.channel_id,
                                            user_id=connection.user_id, payload=offer.as_payload(), now=now)
            repos.tracked_tokens.set_app(team_id=org.team_id, org_id=org.org_id,
                                         app_name=self._settings.desired_app.label,
                                         app_policy=policy.connected_app_value(), now=now)
            repos.connections.start_proof(connection.id, status=proof.status, now=now, status_view=view.to_dict(),
                                          problem=proof.problem)

        await self._end(_Ending(
            connection=connection, expected=("provisioning",), to="provisioned", app_kind=result.kind.value,
            checklist=[item.to_dict() for item in result.checklist], also=keep_app, message=status,
            audit=_AuditEntry(
                action="provision" if result.created else "repair", target=org.org_id, outcome="provisioned",
                detail={"connection": connection.id, "app_kind": result.kind.value,
                        "repaired": [drift.setting for drift in result.repaired],
                        "checklist": {item.setting: item.mark.value for item in result.checklist}},
            ),
        ), now=now)
        logger.info("Connection %s provisioned (%s, %s)", connection.id, result.kind.value,
                    "created" if result.created else "repaired")

    async def _fail(self, connection: Connection, org: OrgRecord | None, code: Failure, detail: str | None) -> None:
        now = self._clock.now()
        detail = None if detail is None else redact(detail)  # Salesforce's words may echo what we sent it
        label = f"{org.org_name} ({org.org_id})" if org else None
        message = messages.connection_failed(code=code, detail=detail, org_label=label, requester=connection.user_id,
                                             connection_id=connection.id)

        await self._end(_Ending(
            connection=connection, expected=("authorized", "provisioning"), to="failed", failure_code=code,
            failure_message=detail, message=message,
            audit=_AuditEntry(action="provision", target=connection.org_id, outcome=f"failed:{code}",
                              detail={"connection": connection.id}),
        ), now=now)
        logger.warning("Connection %s failed: %s", connection.id, code)

    # -- the live proof ------------------------------------------------------------------------------------

    async def _prove(self, connection_id: str) -> None:
        """Sign in with the app's own credentials; when the outcome is in, edit the status message in place."""

        def load(repos: Repositories) -> tuple[Connection | None, OrgRecord | None]:
            connection = repos.connections.get(connection_id)
            if connection is None or connection.proof_status != "proving" or connection.org_id is None:
                return None, None
            return connection, repos.orgs.get(team_id=connection.team_id, org_id=connection.org_id)

        connection, org = await self._store.run(load)
        if connection is None or connection.status_view is None or connection.proof_started_at is None:
            return
        if org is None or org.consumer_key is None or org.consumer_secret is None:
            # The org was disconnected (or its secret forgotten) while the proof waited.
            await self._proved(connection, problem=ProofProblem.SECRET_UNKNOWN, detail=None,
                               run_as=connection.run_as or "")
            return
        outcome = await self._prover.prove(
            my_domain_url=org.instance_url, consumer_key=org.consumer_key, consumer_secret=org.consumer_secret,
            started_at=connection.proof_started_at, attempts_before=connection.proof_attempts,
            on_attempt=lambda: self._store.run(lambda repos: repos.connections.count_proof_attempt(connection_id)),
        )
        await self._proved(connection, problem=outcome.problem, detail=outcome.detail,
                           run_as=connection.run_as or org.salesforce_username)

    async def _proved(
        self, connection: Connection, *, problem: ProofProblem | None, detail: str | None, run_as: str
    ) -> None:
        """Record the proof's outcome, queue the edit of the status message and audit it, in one transaction."""
        assert connection.status_view is not None
        status: Literal["proved", "failed", "not_run"] = (
            "proved" if problem is None else "not_run" if problem is ProofProblem.SECRET_UNKNOWN else "failed")
        view = messages.ConnectedOrg.from_dict(connection.status_view)
        message = messages.org_connected(view, proof=messages.SignInProof(status=status, run_as=run_as,
                                                                          problem=problem, detail=detail))
        now = self._clock.now()

        def finish(repos: Repositories) -> bool:
            if not repos.connections.finish_proof(connection.id, status=status, problem=problem, detail=detail):
                return False
            attempts = repos.connections.get(connection.id)
            repos.notifications.enqueue_update(dedupe_key=outbox_keys.proof_result(connection.id),
                                               of=outbox_keys.connection_status(connection.id),
                                               payload=message.as_payload(), now=now)
            repos.audit.append(at=now, team_id=connection.team_id, actor=connection.user_id, action="prove",
                               target=connection.org_id, outcome=status if problem is None else f"{status}:{problem}",
                               detail={"connection": connection.id,
                                       "attempts": attempts.proof_attempts if attempts else None})
            return True

        if await self._store.run(finish):
            self._delivery.wake()
            logger.info("Connection %s: the app's credentials %s", connection.id,
                        "sign in" if problem is None else f"do not sign in ({problem})")

    # -- the end of a journey ------------------------------------------------------------------------------

    async def _end(self, ending: _Ending, *, now: datetime) -> bool:
        """End one journey (see `_end_each`); False if it had ended already."""
        return await self._end_each(lambda _repos: [ending], now=now) == 1

    async def _end_each(self, endings: Callable[[Repositories], Iterable[_Ending]], *, now: datetime) -> int:
        """In one transaction, end each journey `endings` names that is still in an `expected` status: move it
        to its final status, write what else it brings, queue its status message and audit it. Then wake the
        outbox. Returns how many ended here; one that had moved on (a racing request, a previous process) is
        left as it is, so its status message is never queued twice."""

        def end(repos: Repositories) -> list[_Ending]:
            return [ending for ending in endings(repos) if _write_ending(repos, ending, now=now)]

        ended = await self._store.run(end)
        for ending in ended:
            self._metrics.journey_ended(outcome=ending.failure_code or ending.to)
        if ended:
            self._delivery.wake()
        return len(ended)

    async def close(self, *, grace_seconds: float = 0.0) -> None:
        """Stop starting work, give the tasks under way `grace_seconds` to finish, then cancel the rest: each step
        commits in one transaction, so a cancelled journey resumes at the next start from its last step."""
        self._closing = True
        if self._tasks and grace_seconds > 0:
            await asyncio.wait(list(self._tasks), timeout=grace_seconds)
            if self._tasks:
                logger.info("Stopping with %d journey task(s) under way; they resume at the next start",
                            len(self._tasks))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _audit(self, connection: Connection, *, action: str, outcome: str) -> None:
        now = self._clock.now()
        await self._store.run(lambda repos: repos.audit.append(
            at=now, team_id=connection.team_id, actor="salesforce-callback", action=action, target=connection.id,
            outcome=outcome))


def _confirm_problem(connection: Connection | None, *, team_id: str, user_id: str,
                     now: datetime) -> ConfirmProblem | None:
    """Why this click may not decide the journey, if it may not."""
    if connection is None or connection.team_id != team_id:
        return ConfirmProblem.DECIDED
    if connection.user_id != user_id:
        return ConfirmProblem.NOT_REQUESTER
    if connection.status != "awaiting_confirmation":
        return ConfirmProblem.DECIDED
    if connection.confirm_by is None or connection.confirm_by <= now:
        return ConfirmProblem.LAPSED
    return None


def _write_authorization(repos: Repositories, connection: Connection, authorization: _Authorization, *,
                         expected: ConnectionStatus, now: datetime) -> bool:
    """Make the authorization the org's and move the journey to `authorized`; False if it had moved on."""
    token, identity = authorization.token, authorization.identity
    if not repos.connections.transition(connection.id, expected=[expected], to="authorized", now=now,
                                        org_id=token.org_id):
        return False
    repos.orgs.save_authorization(
        team_id=connection.team_id, org_id=token.org_id, org_name=authorization.org_name,
        is_sandbox=authorization.is_sandbox, instance_url=token.instance_url, login_url=connection.login_url,
        channel_id=connection.channel_id, connected_by=connection.user_id, salesforce_user_id=identity.user_id,
        salesforce_username=identity.username, access_token=token.access_token, refresh_token=token.refresh_token,
        issued_at=token.issued_at, now=now,
    )
    repos.audit.append(at=now, team_id=connection.team_id, actor=connection.user_id, action="authorize",
                       target=token.org_id, outcome="authorized",
                       detail={"connection": connection.id, "salesforce_user": identity.username})
    repos.tracked_tokens.watch_org(team_id=connection.team_id, org_id=token.org_id, now=now)
    # The journey's card goes out now, in the transaction that authorized it, so it is queued exactly once; each
    # stage after this edits it. A new journey of a known org gets a card of its own, which becomes the org's.
    card = messages.org_card_setting_up(org_name=authorization.org_name, org_id=token.org_id,
                                        is_sandbox=authorization.is_sandbox, instance_url=token.instance_url,
                                        requester=connection.user_id)
    repos.notifications.enqueue(dedupe_key=outbox_keys.connection_status(connection.id), team_id=connection.team_id,
                                channel_id=connection.channel_id, payload=card.as_payload(), now=now,
                                fallback_user_id=connection.user_id)
    repos.orgs.set_card(team_id=connection.team_id, org_id=token.org_id,
                        card_key=outbox_keys.connection_status(connection.id))
    return True


def _write_ending(repos: Repositories, ending: _Ending, *, now: datetime) -> bool:
    connection = ending.connection
    if not repos.connections.transition(
        connection.id, expected=ending.expected, to=ending.to, now=now, failure_code=ending.failure_code,
        failure_message=ending.failure_message, app_kind=ending.app_kind, checklist=ending.checklist,
    ):
        return False
    if ending.also is not None:
        ending.also(repos)
    card = outbox_keys.connection_status(connection.id)
    if not ending.private and repos.notifications.get(card) is not None:
        repos.notifications.enqueue_update(dedupe_key=outbox_keys.journey_outcome(connection.id), of=card,
                                           payload=ending.message.as_payload(), now=now)
    else:
        # A private ending (before any org was authorized), or a journey authorized before cards existed.
        repos.notifications.enqueue(
            dedupe_key=card, team_id=connection.team_id, channel_id=connection.channel_id,
            payload=ending.message.as_payload(), now=now, user_id=connection.user_id if ending.private else None,
            fallback_user_id=None if ending.private else connection.user_id,
        )
    if ending.audit is not None:
        entry = ending.audit
        repos.audit.append(at=now, team_id=connection.team_id, actor=connection.user_id, action=entry.action,
                           target=entry.target, outcome=entry.outcome, detail=entry.detail)
    return True

