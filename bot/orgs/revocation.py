"""`/qc revoke-tokens <org> [username]` (SPEC §4b): revoke the QualityClouds app's refresh tokens in the org,
everyone's or one user's, e.g. after a leak, through what Salesforce documents for the app's kind:

- an External Client App: its Connect REST OAuth Usage resources, `DELETE /apps/oauth/usage/{app}/tokens`
  (everyone's) or `DELETE /apps/oauth/usage/{app}/{user}/tokens` (one user's), after reading who holds what;
- a Connected App: each `OauthToken` record of the app (its `AppName` is the app's label), revoked by handing
  its `DeleteToken` to `/services/oauth2/revoke`, as the object reference documents (reference §8).

What was revoked is counted from what was read just before; the channel is told how many and whose, and the
revocation is audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot import messages
from bot.clock import Clock
from bot.config import Settings
from bot.failures import CredentialsProblem, failure_of
from bot.orgs.access import OrgAccess
from bot.provisioning.settings import AppKind
from bot.redaction import Secret, redact
from bot.salesforce.errors import SalesforceError
from bot.salesforce.oauth_usage import OAuthUsageClient
from bot.salesforce.rest import RestClient, soql_string
from bot.slack.outbox import SlackDelivery
from bot.watch.expiry import stop_watching
from storage import outbox_keys
from storage.database import Repositories, Store
from storage.orgs import OrgRecord
from storage.tracked_tokens import token_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RevokeOutcome:
    problem: CredentialsProblem | None
    detail: str | None = None
    org_name: str = ""
    count: int = 0
    usernames: list[str] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, code: CredentialsProblem) -> None:
        super().__init__(code)
        self.code = code


class TokenRevoker:
    def __init__(
        self, *, settings: Settings, store: Store, clock: Clock, access: OrgAccess, delivery: SlackDelivery,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._access = access
        self._delivery = delivery

    async def revoke(self, *, team_id: str, user_id: str, org_id: str, username: str | None) -> RevokeOutcome:
        org = await self._store.run(lambda repos: repos.orgs.get(team_id=team_id, org_id=org_id))
        name = org.org_name if org else org_id
        try:
            if org is None or org.status != "connected" or org.access_token is None:
                raise _Refused(CredentialsProblem.NO_ACCESS)
            rest = self._access.rest(self._access.session(org))
            if org.app_kind == AppKind.CONNECTED_APP.value:
                revoked = await self._revoke_connected_app(org, rest, username)
            else:
                revoked = await self._revoke_external_client_app(rest, username)
        except _Refused as refused:
            return await self._refused(team_id, user_id, org_id, name, refused.code, None, username)
        except SalesforceError as exc:
            failure, detail = failure_of(exc)
            return await self._refused(team_id, user_id, org_id, name, CredentialsProblem.of(failure), detail,
                                       username)
        assert org is not None
        usernames = [name for _, name in revoked]
        holders = sorted(set(usernames))
        now = self._clock.now()
        app_name = self._settings.desired_app.api_name
        notice = messages.tokens_revoked(org_name=org.org_name, org_id=org_id, user_id=user_id, count=len(usernames),
                                         usernames=holders, app_name=app_name)

        def record(repos: Repositories) -> None:
            repos.notifications.enqueue(dedupe_key=outbox_keys.tokens_revoked(team_id=team_id, org_id=org_id),
                                        team_id=team_id, channel_id=org.channel_id, payload=notice.as_payload(),
                                        now=now, thread_of=org.card_key)
            repos.audit.append(at=now, team_id=team_id, actor=user_id, action="revoke_tokens", target=org_id,
                               outcome="revoked", detail={"username": username, "count": len(usernames),
                                                          "holders": holders, "app_kind": org.app_kind})
            # Revoked tokens expire no more: stop their warnings now rather than at the next token sync.
            stop_watching(repos, team_id=team_id, org_id=org_id, reason="the token was revoked (/qc revoke-tokens)",
                          keys={token_key(team_id=team_id, org_id=org_id, kind="app", salesforce_user_id=holder)
                                for holder, _ in revoked})

        await self._store.run(record, immediate=True)
        self._delivery.wake()
        logger.info("Revoked %d token(s) of the app in org %s for %s", len(usernames), org_id, user_id)
        return RevokeOutcome(problem=None, org_name=org.org_name, count=len(usernames), usernames=holders)

    async def _revoke_external_client_app(self, rest: RestClient, username: str | None) -> list[tuple[str, str]]:
        """(Salesforce user id, username) of each token revoked."""
        usage = OAuthUsageClient(rest=rest)
        app_id = await usage.app_identifier(self._settings.desired_app.api_name)
        if app_id is None:
            if username is not None:
                raise _Refused(CredentialsProblem.USER_NOT_FOUND)
            return []  # Salesforce lists an app only once someone used it: nothing to revoke
        tokens = await usage.tokens(developer_name=self._settings.desired_app.api_name)
        if username is None:
            if tokens:
                await usage.delete_tokens(app_id=app_id)
            return [(token.user_id, token.username or token.user_id) for token in tokens]
        mine = [token for token in tokens if (token.username or "").casefold() == username.casefold()]
        if not mine:
            raise _Refused(CredentialsProblem.USER_NOT_FOUND)
        await usage.delete_tokens(app_id=app_id, user_id=mine[0].user_id)
        return [(token.user_id, username) for token in mine]

    async def _revoke_connected_app(
        self, org: OrgRecord, rest: RestClient, username: str | None
    ) -> list[tuple[str, str]]:
        soql = (f"SELECT UserId, DeleteToken FROM OauthToken WHERE AppName = "
                f"{soql_string(self._settings.desired_app.label)}")
        users: dict[str, str] = {}
        if username is not None:
            found = await rest.query(f"SELECT Id, Username FROM User WHERE Username = {soql_string(username)}")
            if not found:
                raise _Refused(CredentialsProblem.USER_NOT_FOUND)
            users[str(found[0]["Id"])] = str(found[0]["Username"])
            soql += f" AND UserId = {soql_string(str(found[0]['Id']))}"
        rows = await rest.query(soql)
        if username is not None and not rows:
            raise _Refused(CredentialsProblem.USER_NOT_FOUND)
        for missing in sorted({str(row["UserId"]) for row in rows} - set(users)):
            for user in await rest.query(f"SELECT Id, Username FROM User WHERE Id = {soql_string(missing)}"):
                users[missing] = str(user["Username"])
        revoked: list[tuple[str, str]] = []
        for row in rows:
            token = row.get("DeleteToken")
            if not isinstance(token, str) or not token:
                continue
            await self._access.oauth.revoke(login_url=org.instance_url, token=Secret(token))
            revoked.append((str(row["UserId"]), users.get(str(row["UserId"]), str(row["UserId"]))))
        return revoked

    async def _refused(self, team_id: str, user_id: str, org_id: str, org_name: str, code: CredentialsProblem,
                       detail: str | None, username: str | None) -> RevokeOutcome:
        now = self._clock.now()
        detail = None if detail is None else redact(detail)
        await self._store.run(lambda repos: repos.audit.append(
            at=now, team_id=team_id, actor=user_id, action="revoke_tokens", target=org_id, outcome=f"failed:{code}",
            detail={"username": username}))
        return RevokeOutcome(problem=code, detail=detail, org_name=org_name)
