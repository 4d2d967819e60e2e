"""The periodic check's extension point (bot.watch.org_check): steps run in order under the org's claim, each
result reaches the report, a failing step does not stop the others, and the claim is released. The claim is short
and renewed: a slow check keeps its org, and an org whose checking process died is checked by another process
within a lease's lifetime (on both engines)."""

import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from bot.clock import ManualClock
from bot.redaction import Secret
from bot.timings import fast_timings
from bot.watch.org_check import OrgChecker, SettingLine, SettingsResult
from bot.watch.report import CheckReport
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from storage.timestamps import from_db_time
from tests.support.cli import REPO_ROOT
from tests.support.database import engine_of, run

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TIMINGS = fast_timings()


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


async def connected_store(tmp_path, *, url=None, key=None):
    store = Store(url=url or sqlite_url(tmp_path / "qc.db"),
                  secret_box=SecretBox(keys=[Secret(key or Fernet.generate_key().decode())]))
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
                             lease=TIMINGS.lease_ttl)
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
        checker = OrgChecker(store=store, clock=clock, steps=[], process="test", lease=TIMINGS.lease_ttl)
        message = await CheckReport(store=store, clock=clock, checker=checker).run(team_id="T1", org_ids=["00DA"])
        assert "❔ *Settings:* not checked" in str(message.blocks)
    finally:
        await store.close()


class SlowStep:
    """A check step that waits for Salesforce until the test lets it go."""

    def __init__(self):
        self.entered = asyncio.Event()
        self.may_end = asyncio.Event()

    async def run(self, sync):
        self.entered.set()
        await self.may_end.wait()
        return SettingsResult(checked=False)


def checker(store, clock, step, *, process):
    return OrgChecker(store=store, clock=clock, steps=[step], process=process, lease=TIMINGS.lease_ttl)


def claimed_until(database):
    [(until,)] = run(database, "SELECT claimed_until FROM token_syncs WHERE team_id = 'T1' AND org_id = '00DA'")
    return until


DOOMED_CHECK = """
import asyncio, sys
from bot.clock import SystemClock
from bot.redaction import Secret
from bot.timings import fast_timings
from bot.watch.org_check import OrgChecker
from storage.crypto import SecretBox
from storage.database import Store

class Hang:
    async def run(self, sync):
        print("checking", flush=True)
        await asyncio.Event().wait()

async def main(url):
    store = Store(url=url, secret_box=SecretBox(keys=[Secret(sys.argv[2])]))
    await store.open()
    timings = fast_timings()
    await OrgChecker(store=store, clock=SystemClock(), steps=[Hang()], process="doomed",
                     lease=timings.lease_ttl).check_org(team_id="T1", org_id="00DA")

asyncio.run(main(sys.argv[1]))
"""


async def test_a_slow_check_keeps_its_org_past_the_lease(tmp_path, database_url):
    store = await connected_store(tmp_path, url=database_url)
    database = engine_of(database_url)
    try:
        clock = ManualClock(NOW)
        slow = SlowStep()
        checking = asyncio.create_task(checker(store, clock, slow, process="a").check_org(team_id="T1", org_id="00DA"))
        await slow.entered.wait()
        # Three renewals carry the claim past a lease's lifetime, and another process keeps off the org meanwhile.
        for _ in range(3):
            before = claimed_until(database)
            clock.advance(TIMINGS.lease_ttl * 2 / 3)
            async with asyncio.timeout(5):
                while claimed_until(database) == before:
                    await asyncio.sleep(0.01)
        assert not (await checker(store, clock, DriftStep(), process="b").check_org(team_id="T1", org_id="00DA")).ran
        slow.may_end.set()
        assert (await checking).ran
        assert claimed_until(database) is None, "released at the end"
    finally:
        database.dispose()
        await store.close()


async def test_an_org_whose_checking_process_was_killed_is_checked_by_another_within_a_lease(
        tmp_path, database_url):
    key = Fernet.generate_key().decode()
    store = await connected_store(tmp_path, url=database_url, key=key)
    database = engine_of(database_url)
    doomed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DOOMED_CHECK, database_url, key, cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE)
    try:
        assert doomed.stdout is not None
        async with asyncio.timeout(30):
            assert await doomed.stdout.readline() == b"checking\n"
        doomed.send_signal(signal.SIGKILL)  # no `finally` runs: the claim stays as its last renewal left it
        await doomed.wait()
        left_until = from_db_time(claimed_until(database))
        assert left_until <= datetime.now(UTC) + TIMINGS.lease_ttl, "a lease's lifetime at most, not 15 minutes"
        clock = ManualClock(left_until - timedelta(milliseconds=1))
        other = checker(store, clock, DriftStep(), process="b")
        assert not (await other.check_org(team_id="T1", org_id="00DA")).ran, "its claim is still alive"
        clock.advance(timedelta(milliseconds=1))
        result = await other.check_org(team_id="T1", org_id="00DA")
        assert result.ran and result.settings.checked, "checked by another process once the claim lapsed"
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
        database.dispose()
        await store.close()
