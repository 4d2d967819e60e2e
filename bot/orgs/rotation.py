"""`/qc rotate-secret <org> [incident]` (SPEC §4b): new consumer credentials for the QualityClouds External
Client App, the way maintained tools rotate them (reference §5.1): stage a new set over Connect REST, promote
it with `rotate`, and leave the former set valid for Salesforce's 30-day overlap until an admin retires it
(`incident` retires it at once).

A rotation is a stored record moved one step at a time:

    started → staging → staged → revealed → promoted → proven | retired      (or failed, before promoted)

- `started`: any staged set left from before is deleted (only one may exist per consumer);
- `staging` is recorded *before* the POST that stages, so a process that dies after Salesforce made the set but
  before qc-bot stored it adopts that set on resume (Salesforce returns its secret on a GET) instead of staging
  a second one;
- `staged` is written together with the new key and secret, encrypted: nothing is shown before they are safe;
- `revealed`: the requester's one-time reveal grant and its private offer, in one transaction;
- `promoted` is written with the org's stored credentials replaced. Before promoting, the consumer's current
  key is compared with the new one, because a second `rotate` would promote the former set back;
- then the new credentials are proven with a sign-in, and the channel told (masked) what still signs in.

The staging and promotion need the same org setting and External Client App permissions as the credentials
read, turned on only when refused and restored right after (`CredentialReader`, journaled under the
rotation's id). The process running a rotation holds its lease (storage.leases); one that stops mid-rotation
leaves the lease to lapse, and a replica takes the rotation over within seconds (`adopt_unfinished`). Its steps in
Salesforce also wait for, and then hold, the org's lease, so they never run beside a journey setting up the same
org. The app qc-bot itself signs in with is never rotated.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot import messages
from bot.clock import Clock
from bot.config import Settings
from bot.connect.proof import SignInProver
from bot.failures import CredentialsProblem, ProofProblem, failure_of
from bot.leases import Leases
from bot.orgs.access import OrgAccess
from bot.provisioning.credential_access import AccessRefused, CredentialReader, StoredChangeJournal
from bot.provisioning.settings import AppKind
from bot.redaction import Secret, mask, redact
from bot.salesforce.errors import SalesforceError
from bot.salesforce.metadata import MetadataComponent
from bot.salesforce.rest import STAGED_API_VERSION, EcaConsumer, RestClient, StagedCredentials
from bot.slack.outbox import SlackDelivery
from bot.timings import Timings
from storage import leases, outbox_keys
from storage.database import Repositories, Store
from storage.orgs import OrgRecord
from storage.rotations import UNDER_WAY, Rotation, RotationStep, RotationUnderWay
from storage.temporary_changes import ChangeKind

logger = logging.getLogger(__name__)

MAX_RESUMES = 3
"""How many restarts a rotation survives before it is reported as interrupted."""


@dataclass(frozen=True, kw_only=True)
class RotationBegun:
    problem: CredentialsProblem | None
    org_name: str = ""
    connected_app: OrgRecord | None = None
    """Set when the org's app is a Connected App: nothing was started, the admin gets the Setup steps."""


_StagedSets = Callable[[], Awaitable[list[StagedCredentials]]]


class _Stop(Exception):
    def __init__(self, code: CredentialsProblem, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


class Rotator:
    def __init__(
        self, *, settings: Settings, store: Store, clock: Clock, access: OrgAccess, delivery: SlackDelivery,
        timings: Timings, leases: Leases,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._access = access
        self._delivery = delivery
        self._timings = timings
        self._prover = SignInProver(oauth=access.oauth, clock=clock, retry=timings.proof_retry,
                                    window=timings.proof_window)
        self._tasks: set[asyncio.Task[None]] = set()
        self._working_on: set[str] = set()
        """Rotations this process has a task for: its own lease covers them, adoption must leave them alone."""
        self._leases = leases
        self._closing = False

    # -- the command ---------------------------------------------------------------------------------------

    async def begin(self, *, team_id: str, user_id: str, org_id: str, incident: bool) -> RotationBegun:
        """Record a rotation and start it in the background; the admin is answered at once."""
        now = self._clock.now()
        rotation_id = uuid.uuid4().hex

        def start(repos: Repositories) -> RotationBegun:
            org = repos.orgs.get(team_id=team_id, org_id=org_id)
            problem: CredentialsProblem | None = None
            connection = repos.connections.latest_for_org(team_id=team_id, org_id=org_id, status="provisioned")
            if org is None or org.status != "connected" or org.access_token is None:
                problem = CredentialsProblem.NO_ACCESS
            elif org.app_kind == AppKind.CONNECTED_APP.value:
                repos.audit.append(at=now, team_id=team_id, actor=user_id, action="rotate_secret", target=org_id,
                                   outcome="setup_steps", detail={"app_kind": org.app_kind})
                return RotationBegun(problem=None, org_name=org.org_name, connected_app=org)
            elif org.consumer_key is None or connection is None:
                problem = CredentialsProblem.NO_APP
            elif org.consumer_key.reveal() == self._settings.salesforce_client_id:
                problem = CredentialsProblem.OWN_CLIENT
            else:
                try:
                    repos.rotations.create(rotation_id=rotation_id, team_id=team_id, org_id=org_id, user_id=user_id,
                                           channel_id=org.channel_id, connection_id=connection.id,
                                           incident=incident, now=now)
                except RotationUnderWay:
                    problem = CredentialsProblem.UNDER_WAY
            repos.audit.append(at=now, team_id=team_id, actor=user_id, action="rotate_secret", target=org_id,
                               outcome="started" if problem is None else f"refused:{problem}",
                               detail={"rotation": rotation_id if problem is None else None, "incident": incident})
            return RotationBegun(problem=problem, org_name=org.org_name if org else "")

        begun = await self._store.run(start, immediate=True)
        if begun.problem is None and begun.connected_app is None:
            logger.info("Rotation %s of org %s started by %s%s", rotation_id, org_id, user_id,
                        " (incident)" if incident else "")
            self.schedule(rotation_id)
        return begun

    def schedule(self, rotation_id: str) -> None:
        if self._closing or rotation_id in self._working_on:
            return
        task = asyncio.create_task(self._run_leased(rotation_id), name=f"rotate-{rotation_id}")
        self._tasks.add(task)
        self._working_on.add(rotation_id)
        task.add_done_callback(lambda done: self._ended(done, rotation_id))

    async def _run_leased(self, rotation_id: str) -> None:
        async with self._leases.holding(leases.rotation(rotation_id), cancel_on_loss=True) as lease:
            if lease is not None:
                await self.run(rotation_id)

    def _ended(self, task: asyncio.Task[None], rotation_id: str) -> None:
        """A rotation task that crashed (the database refused a write, say) stays where it stopped, and is
        adopted again once its lease lapses."""
        self._tasks.discard(task)
        self._working_on.discard(rotation_id)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Rotation task %s crashed", task.get_name(), exc_info=task.exception())

    async def adopt_unfinished(self, *, reclaim_own: bool = False) -> int:
        """Take over every rotation left before its outcome whose lease lapsed (its process died); with
        `reclaim_own` (at start-up), also those this replica's claim id holds (its previous process's); how many."""
        now = self._clock.now()
        holder = self._leases.holder if reclaim_own else None
        unfinished = [rotation for rotation in await self._store.run(
            lambda repos: repos.rotations.adoptable(now=now, reclaiming=holder)) if rotation.id not in self._working_on]
        for rotation in unfinished:
            # A promoted rotation is always finished: its new credentials are in place and must be proven and told.
            if await self._count_resume(rotation.id) > MAX_RESUMES and rotation.step != "promoted":
                await self._fail(rotation, CredentialsProblem.INTERRUPTED, None)
                continue
            logger.info("Resuming rotation %s (%s)", rotation.id, rotation.step)
            self.schedule(rotation.id)
        return len(unfinished)

    async def _count_resume(self, rotation_id: str) -> int:
        return await self._store.run(lambda repos: repos.rotations.count_resume(rotation_id))

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the steps -----------------------------------------------------------------------------------------

    async def run(self, rotation_id: str) -> None:
        """Take the rotation's remaining steps (each process runs one task per rotation: begun, or resumed)."""
        rotation = await self._load(rotation_id)
        if rotation is None or rotation.step not in UNDER_WAY:
            return
        team_id, org_id = rotation.team_id, rotation.org_id
        org = await self._store.run(lambda repos: repos.orgs.get(team_id=team_id, org_id=org_id))
        failure: tuple[CredentialsProblem, str | None] | None = None
        try:
            if org is None or org.status != "connected" or org.access_token is None:
                raise _Stop(CredentialsProblem.NO_ACCESS)
            rotation = await self._in_salesforce(rotation, org)
        except _Stop as stop:
            failure = stop.code, stop.detail
        except AccessRefused as refused:
            failure = CredentialsProblem.ACCESS_NOT_GRANTABLE, refused.detail
        except SalesforceError as exc:
            failure = _problem_of(exc)
        if failure is not None:
            current = await self._load(rotation.id)
            if org is None or current is None or current.step != "promoted":
                await self._fail(rotation, *failure)
                return
            rotation = current
            # Promoted already, so the new credentials are in place: only an incident's retirement of the old ones
            # failed. The rotation still ends (proven, its message says the old ones still work and offers Retire).
            logger.warning("Rotation %s could not retire the old credentials at once: %s", rotation.id, failure[0])
        assert org is not None
        await self._prove(rotation, org, old_retired=rotation.incident and failure is None)

    async def _in_salesforce(self, rotation: Rotation, org: OrgRecord) -> Rotation:
        """Every step that talks to Salesforce, with the access it needs turned on for it and restored after; under
        the org's lease, as a journey's provisioning is: each turns the same org setting on and back off."""
        async with self._leases.waiting_for(leases.org(team_id=rotation.team_id, org_id=rotation.org_id),
                                            work=leases.rotation(rotation.id)):
            rest, reader = self._clients(rotation, org)
            turned_on: list[ChangeKind] = []
            try:
                return await self._steps(rotation, rest, reader, turned_on)
            finally:
                left = await reader.restore_pending()
                if left:
                    logger.warning("Rotation %s left %d temporary org change(s) behind", rotation.id, len(left))

    def _clients(self, rotation: Rotation, org: OrgRecord) -> tuple[RestClient, CredentialReader]:
        """REST on the staged-credentials API version, and the reader that opens the org up for it (journaled
        under the rotation's id)."""
        session = self._access.session(org)
        metadata = self._access.metadata(session)
        rest = RestClient(http=self._access.http, session=session, api_version=STAGED_API_VERSION)

        async def deploy(components: list[MetadataComponent]) -> None:
            await metadata.deploy(components, poll=self._timings.deploy_poll)

        return rest, CredentialReader(metadata=metadata, rest=rest, deploy=deploy, user_id=org.salesforce_user_id,
                                      journal=StoredChangeJournal(store=self._store, clock=self._clock,
                                                                  owner_id=rotation.id, team_id=rotation.team_id,
                                                                  org_id=rotation.org_id))

    async def _steps(
        self, rotation: Rotation, rest: RestClient, reader: CredentialReader, turned_on: list[ChangeKind]
    ) -> Rotation:
        app = self._settings.desired_app.api_name
        consumer = await reader.with_access(lambda: rest.eca_consumer(developer_name=app), turned_on)
        if consumer is None or consumer.staged_url is None:
            raise _Stop(CredentialsProblem.NO_APP)
        staged_url = consumer.staged_url

        async def staged_sets() -> list[StagedCredentials]:
            return await reader.with_access(lambda: rest.staged_credentials(staged_url), turned_on)

        if rotation.step == "started":
            if consumer.key == self._settings.salesforce_client_id:
                raise _Stop(CredentialsProblem.OWN_CLIENT)
            for stale in await staged_sets():
                # Only one set may exist: an unpromoted leftover, or the former credentials of an earlier rotation.
                await rest.delete_staged(stale.url)
            rotation = await self._advance(rotation, to="staging",
                                           old_key=Secret(consumer.key) if consumer.key else None)
        if rotation.step == "staging":
            waiting = [found for found in await staged_sets()
                       if found.state.lower() == "active" and found.secret is not None]
            if waiting:
                new = waiting[0]  # staged by this rotation before the process stopped
            else:
                new = await reader.with_access(lambda: rest.stage_credentials(staged_url), turned_on)
            if new.secret is None:
                raise _Stop(CredentialsProblem.SALESFORCE_REFUSED, "Salesforce staged credentials without a secret.")
            rotation = await self._advance(rotation, to="staged", staged_url=new.url, new_key=new.key,
                                           new_secret=new.secret)
        if rotation.step == "staged":
            rotation = await self._offer_reveal(rotation)
        if rotation.step == "revealed":
            rotation = await self._promote(rotation, rest, consumer, staged_sets)
        if rotation.step == "promoted" and rotation.incident:
            await self._delete_rotated(rest, await staged_sets())  # only `Rotated` sets: safe to repeat
        return rotation

    async def _promote(self, rotation: Rotation, rest: RestClient, consumer: EcaConsumer,
                       staged_sets: _StagedSets) -> Rotation:
        assert rotation.new_key is not None and rotation.new_secret is not None and rotation.staged_url
        if consumer.key != rotation.new_key.reveal():
            await rest.promote_staged(rotation.staged_url)
        former = [found for found in await staged_sets() if found.state.lower() == "rotated"]
        valid_until = former[0].expires_at if former else None
        now = self._clock.now()
        new_key, new_secret = rotation.new_key, rotation.new_secret

        def promote(repos: Repositories) -> bool:
            if not repos.rotations.advance(rotation.id, expected="revealed", to="promoted", now=now,
                                           old_valid_until=valid_until):
                return False
            repos.orgs.save_app(team_id=rotation.team_id, org_id=rotation.org_id,
                                app_kind=AppKind.EXTERNAL_CLIENT_APP.value, consumer_key=new_key,
                                consumer_secret=new_secret, now=now)
            repos.audit.append(at=now, team_id=rotation.team_id, actor=rotation.user_id, action="rotate_secret",
                               target=rotation.org_id, outcome="promoted", detail={"rotation": rotation.id})
            return True

        await self._store.run(promote, immediate=True)
        return await self._reload(rotation)

    async def _delete_rotated(self, rest: RestClient, found: list[StagedCredentials]) -> None:
        for former in found:
            if former.state.lower() == "rotated":
                await rest.delete_staged(former.url)

    async def _offer_reveal(self, rotation: Rotation) -> Rotation:
        now = self._clock.now()
        reveal_id = uuid.uuid4().hex
        org_name = await self._org_name(rotation)
        offer = messages.rotation_reveal_offer(reveal_id=reveal_id, org_name=org_name,
                                               expires_minutes=int(self._timings.reveal_ttl.total_seconds() // 60))

        def reveal(repos: Repositories) -> None:
            if not repos.rotations.advance(rotation.id, expected="staged", to="revealed", now=now):
                return
            repos.reveals.create(reveal_id=reveal_id, connection_id=rotation.connection_id, team_id=rotation.team_id,
                                 user_id=rotation.user_id, now=now, expires_at=now + self._timings.reveal_ttl,
                                 rotation_id=rotation.id)
            repos.notifications.enqueue(dedupe_key=outbox_keys.rotation_message(rotation.id, event="reveal"),
                                        team_id=rotation.team_id, channel_id=rotation.channel_id,
                                        user_id=rotation.user_id, payload=offer.as_payload(), now=now)

        await self._store.run(reveal, immediate=True)
        self._delivery.wake()
        return await self._reload(rotation)

    async def _prove(self, rotation: Rotation, org: OrgRecord, *, old_retired: bool) -> None:
        assert rotation.new_key is not None and rotation.new_secret is not None
        outcome = await self._prover.prove(
            my_domain_url=org.instance_url, consumer_key=rotation.new_key, consumer_secret=rotation.new_secret,
            started_at=rotation.updated_at, attempts_before=0, on_attempt=_nothing)
        retired = old_retired
        message = _account(rotation, org_name=org.org_name, retired=retired, proof_problem=outcome.problem,
                           proof_detail=outcome.detail)
        now = self._clock.now()

        def finish(repos: Repositories) -> None:
            if not repos.rotations.advance(rotation.id, expected="promoted", to="retired" if retired else "proven",
                                           now=now, proof_problem=outcome.problem, proof_detail=outcome.detail):
                return
            repos.notifications.enqueue(dedupe_key=outbox_keys.rotation_message(rotation.id, event="done"),
                                        team_id=rotation.team_id, channel_id=rotation.channel_id,
                                        payload=message.as_payload(), now=now,
                                        thread_of=repos.orgs.card_key(team_id=rotation.team_id,
                                                                      org_id=rotation.org_id))
            repos.audit.append(at=now, team_id=rotation.team_id, actor=rotation.user_id, action="rotate_secret",
                               target=rotation.org_id, outcome="retired" if retired else "proven",
                               detail={"rotation": rotation.id, "incident": rotation.incident,
                                       "sign_in": outcome.problem or "ok"})

        await self._store.run(finish, immediate=True)
        self._delivery.wake()
        logger.info("Rotation %s finished (%s; sign-in %s)", rotation.id, "old retired" if retired else "old valid",
                    outcome.problem or "ok")

    # -- retiring the old credentials ----------------------------------------------------------------------

    async def retire(self, *, team_id: str, user_id: str, rotation_id: str) -> tuple[bool, str]:
        """Delete the former credentials of a proven rotation; (retired now, org name)."""
        rotation = await self._load(rotation_id)
        if rotation is None or rotation.team_id != team_id:
            return False, "the org"
        org = await self._store.run(lambda repos: repos.orgs.get(team_id=team_id, org_id=rotation.org_id))
        org_name = org.org_name if org else rotation.org_id
        if rotation.step != "proven" or org is None:
            return False, org_name
        try:
            await self._retire_in_salesforce(rotation, org)
        except (AccessRefused, _Stop, SalesforceError) as exc:
            code, detail = ((CredentialsProblem.ACCESS_NOT_GRANTABLE, exc.detail) if isinstance(exc, AccessRefused)
                            else (exc.code, exc.detail) if isinstance(exc, _Stop) else _problem_of(exc))
            await self._audit(rotation, actor=user_id, outcome=f"failed:{code}", detail={"retire": True})
            raise RetireFailed(code, detail, org_name) from exc
        now = self._clock.now()
        notice = messages.old_credentials_retired(
            org_name=org_name, org_id=rotation.org_id, user_id=user_id,
            old_key_mask=mask(rotation.old_key.reveal()) if rotation.old_key else None)
        account = _account(rotation, org_name=org_name, retired=True, retired_by=user_id,
                           proof_problem=ProofProblem(rotation.proof_problem) if rotation.proof_problem else None,
                           proof_detail=rotation.proof_detail)

        def retired(repos: Repositories) -> bool:
            if not repos.rotations.advance(rotation.id, expected="proven", to="retired", now=now):
                return False
            repos.notifications.enqueue(dedupe_key=outbox_keys.rotation_message(rotation.id, event="retired"),
                                        team_id=team_id, channel_id=rotation.channel_id, payload=notice.as_payload(),
                                        now=now, thread_of=repos.orgs.card_key(team_id=team_id,
                                                                               org_id=rotation.org_id))
            # The account loses its Retire button, so nobody presses it again.
            repos.notifications.enqueue_update(
                dedupe_key=outbox_keys.rotation_message(rotation.id, event="done-retired"),
                of=outbox_keys.rotation_message(rotation.id, event="done"), payload=account.as_payload(), now=now)
            repos.audit.append(at=now, team_id=team_id, actor=user_id, action="retire_credentials",
                               target=rotation.org_id, outcome="retired", detail={"rotation": rotation.id})
            return True

        done = await self._store.run(retired, immediate=True)
        self._delivery.wake()
        return done, org_name

    async def _retire_in_salesforce(self, rotation: Rotation, org: OrgRecord) -> None:
        """Under the org's lease, as the rotation's other steps: it turns the same org setting on and off."""
        if org.status != "connected" or org.access_token is None:
            raise _Stop(CredentialsProblem.NO_ACCESS)
        rest, reader = self._clients(rotation, org)
        turned_on: list[ChangeKind] = []
        async with self._leases.waiting_for(leases.org(team_id=rotation.team_id, org_id=rotation.org_id),
                                            work=f"retire:{rotation.id}"):
            try:
                consumer = await reader.with_access(
                    lambda: rest.eca_consumer(developer_name=self._settings.desired_app.api_name), turned_on)
                if consumer is None or consumer.staged_url is None:
                    raise _Stop(CredentialsProblem.NO_APP)
                staged_url = consumer.staged_url
                await self._delete_rotated(rest, await reader.with_access(
                    lambda: rest.staged_credentials(staged_url), turned_on))
            finally:
                await reader.restore_pending()

    # -- records -------------------------------------------------------------------------------------------

    async def _fail(self, rotation: Rotation, code: CredentialsProblem, detail: str | None) -> None:
        now = self._clock.now()
        detail = None if detail is None else redact(detail)
        message = messages.credentials_failed(code=code, detail=detail, org_name=await self._org_name(rotation))

        def fail(repos: Repositories) -> None:
            current = repos.rotations.get(rotation.id)
            if current is None or current.step not in ("started", "staging", "staged", "revealed"):
                return  # promoted already: the new credentials are in place, so the rotation is not undone
            repos.rotations.advance(rotation.id, expected=current.step, to="failed", now=now, failure=code.value,
                                    failure_detail=detail)
            repos.notifications.enqueue(dedupe_key=outbox_keys.rotation_message(rotation.id, event="failed"),
                                        team_id=rotation.team_id, channel_id=rotation.channel_id,
                                        user_id=rotation.user_id, payload=message.as_payload(), now=now)
            repos.audit.append(at=now, team_id=rotation.team_id, actor=rotation.user_id, action="rotate_secret",
                               target=rotation.org_id, outcome=f"failed:{code}",
                               detail={"rotation": rotation.id, "step": current.step})

        await self._store.run(fail, immediate=True)
        self._delivery.wake()
        logger.warning("Rotation %s failed: %s", rotation.id, code)

    async def _advance(self, rotation: Rotation, *, to: RotationStep, **fields: object) -> Rotation:
        now = self._clock.now()
        await self._store.run(lambda repos: repos.rotations.advance(rotation.id, expected=rotation.step, to=to,
                                                                     now=now, **fields), immediate=True)
        return await self._reload(rotation)

    async def _reload(self, rotation: Rotation) -> Rotation:
        reloaded = await self._load(rotation.id)
        if reloaded is None:
            raise _Stop(CredentialsProblem.NO_APP)
        return reloaded

    async def _load(self, rotation_id: str) -> Rotation | None:
        return await self._store.run(lambda repos: repos.rotations.get(rotation_id))

    async def _org_name(self, rotation: Rotation) -> str:
        org = await self._store.run(lambda repos: repos.orgs.get(team_id=rotation.team_id, org_id=rotation.org_id))
        return org.org_name if org else rotation.org_id

    async def _audit(self, rotation: Rotation, *, actor: str, outcome: str, detail: dict[str, object]) -> None:
        now = self._clock.now()
        await self._store.run(lambda repos: repos.audit.append(
            at=now, team_id=rotation.team_id, actor=actor, action="retire_credentials", target=rotation.org_id,
            outcome=outcome, detail={"rotation": rotation.id, **detail}))


class RetireFailed(Exception):
    def __init__(self, code: CredentialsProblem, detail: str | None, org_name: str) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.org_name = org_name


def _problem_of(exc: SalesforceError) -> tuple[CredentialsProblem, str | None]:
    failure, detail = failure_of(exc)
    return CredentialsProblem.of(failure), detail


async def _nothing() -> None:
    """The rotation's proof keeps no attempt count: a resumed rotation proves afresh."""


def _account(rotation: Rotation, *, org_name: str, retired: bool, proof_problem: ProofProblem | None,
             proof_detail: str | None, retired_by: str | None = None) -> messages.SlackMessage:
    """The channel's account of a finished rotation (`messages.rotation_done`), from what the rotation stored."""
    assert rotation.new_key is not None and rotation.new_secret is not None
    return messages.rotation_done(
        rotation_id=rotation.id, org_name=org_name, org_id=rotation.org_id, user_id=rotation.user_id,
        new_key_mask=mask(rotation.new_key.reveal()), new_secret_mask=mask(rotation.new_secret.reveal()),
        old_key_mask=mask(rotation.old_key.reveal()) if rotation.old_key else None,
        old_valid_until=rotation.old_valid_until, retired=retired, incident=rotation.incident,
        proof_problem=proof_problem, proof_detail=proof_detail, retired_by=retired_by)
