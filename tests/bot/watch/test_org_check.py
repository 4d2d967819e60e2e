"""The periodic check's extension point (bot.watch.org_check): steps run in order under the org's claim, each
result reaches the report, a failing step does not stop the others, and the claim is released."""

from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from bot.clock import ManualClock
from bot.redaction import Secret
from bot.watch.org_check import OrgChecker, SettingLine, SettingsResult
from bot.watch.report import CheckReport
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class DriftStep:
    """What the drift watch plugs in: a step whose result is a `SettingsResult`."""

    async def run(self, sync):
        return SettingsResult(checked=True, lines=(
            SettingLine(mark="ok", text="*PKCE required:* no"),
            SettingLine(mark="error", text="*Callback URL:* was `https://scan.qualityclouds.com/x`, now `https://other.example/cb`"),
        ))


class BrokenStep:
    async def run(self, sync):
        raise RuntimeError("a bug in one step")


async def connected_store(tmp_path):
    store = Store(url=sqlite_url(tmp_path / "qc.db"),
                  secret_box=SecretBox(keys=[Secret(Fernet.generate_key().decode())]))
    await store.open()

    def add(repos):
        repos.orgs.save_authorization(
            team_id="T1", org_id="00DA", org_name="Acme <Corp>", is_sandbox=False,
            instance_url="https://acme.my.salesforce.com", login_url="https://login.salesforce.com",
            channel_id="C1", connected_by="U1", salesforce_user_id="005A", salesforce_username="a@acme.com",
            access_token=Secret("00DA!access"), refresh_token=Secret("5Aep-refresh"), issued_at=NOW, now=NOW)
        repos.tracked_tokens.watch_org(team_id="T1", org_id="00DA", now=NOW)

    await store.run(add)
    return store


async def test_a_settings_step_feeds_the_report_and_a_broken_step_stops_nothing(tmp_path):
    store = await connected_store(tmp_path)
    try:
        clock = ManualClock(NOW)
        checker = OrgChecker(store=store, clock=clock, steps=[BrokenStep(), DriftStep()], process="test",
                             lease=timedelta(minutes=15))
        message = await CheckReport(store=store, clock=clock, checker=checker).run(team_id="T1", org_ids=None)
        text = str(message.blocks)
        assert "*Acme &lt;Corp&gt;* `00DA`" in text, "names from Salesforce are escaped"
        assert "✅ *PKCE required:* no" in text and "❌ *Callback URL:*" in text
        assert "❔ *Sign-in:* not checked yet." in text and "*Tokens:* none tracked yet" in text
        assert await store.run(lambda repos: repos.tracked_tokens.claim(
            team_id="T1", org_id="00DA", now=NOW, by="other", until=NOW + timedelta(minutes=1))) is not None, (
            "the claim was released after the check")
    finally:
        await store.close()


async def test_without_a_settings_step_the_report_says_not_checked(tmp_path):
    store = await connected_store(tmp_path)
    try:
        clock = ManualClock(NOW)
        checker = OrgChecker(store=store, clock=clock, steps=[], process="test", lease=timedelta(minutes=15))
        message = await CheckReport(store=store, clock=clock, checker=checker).run(team_id="T1", org_ids=["00DA"])
        assert "❔ *Settings:* not checked" in str(message.blocks)
    finally:
        await store.close()
