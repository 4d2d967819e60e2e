"""`qc-bot doctor` against the Slack and Salesforce stand-ins: every check passes on a sound configuration,
and each check fails, with its fix, when what it checks is broken."""

import asyncio
import subprocess
import sys
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from bot.config import VARIABLES
from bot.ops.doctor import diagnose, report
from bot.redaction import Secret
from standins.salesforce import FakeSalesforce
from standins.slack import FakeSlack
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from tests.storage.test_installations import installation
from tests.support.cli import clean_environment
from tests.support.ports import free_port
from tests.support.stack import BOT_CLIENT_ID, BOT_CLIENT_SECRET, SIGNING_SECRET

PUBLIC_URL = "http://127.0.0.1:3000"
SLACK_CLIENT_ID = "1111111111.2222222222"
SLACK_CLIENT_SECRET = "slack-client-secret-0123456789abcdef"


@dataclass
class World:
    slack: FakeSlack
    salesforce: FakeSalesforce
    values: dict[str, str]

    async def findings(self, **changes):
        values = {**self.values, **changes}
        return await diagnose(values={key: value for key, value in values.items() if value is not None},
                              timeout_seconds=3)


@pytest.fixture
async def world(tmp_path):
    slack = FakeSlack(signing_secret=SIGNING_SECRET)
    await slack.start()
    slack.register_oauth_client(client_id=SLACK_CLIENT_ID, client_secret=SLACK_CLIENT_SECRET,
                                redirect_uris=[PUBLIC_URL + "/slack/oauth_redirect"])
    salesforce = FakeSalesforce(wsdl_path=False)
    salesforce.register_client(client_id=BOT_CLIENT_ID, client_secret=BOT_CLIENT_SECRET,
                               redirect_uris=[PUBLIC_URL + "/salesforce/oauth/callback"])
    await salesforce.start()
    values = {
        "QC_PUBLIC_URL": PUBLIC_URL,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": slack.team.bot_token,
        "SLACK_API_URL": slack.api_url,
        "SALESFORCE_CLIENT_ID": BOT_CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": BOT_CLIENT_SECRET,
        "SALESFORCE_LOGIN_URL": salesforce.login_url,
        "SALESFORCE_SANDBOX_LOGIN_URL": salesforce.sandbox_login_url,
        "SALESFORCE_ALLOWED_HOSTS": ",".join(salesforce.allowed_hosts),
        "QC_DB_PATH": str(tmp_path / "qc-bot.db"),
        "QC_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    yield World(slack, salesforce, values)
    await salesforce.stop()
    await slack.stop()


def closed_port() -> int:
    return free_port()


def failed(findings, check):
    found = [finding for finding in findings if finding.status == "fail" and finding.check == check]
    assert found, "\n".join(finding.line() for finding in findings)
    assert found[0].fix or check in VARIABLES, found[0]  # a variable's line says what is expected instead
    return found[0]


async def test_a_sound_configuration_passes_every_check(world):
    findings = await world.findings()
    text, status = report(findings)
    assert status == 0, text
    assert {finding.status for finding in findings} == {"ok"}, text
    checks = {finding.check for finding in findings}
    assert {"QC_PUBLIC_URL", "QC_ENCRYPTION_KEYS", "Slack mode", "Database", "Slack auth.test", "Slack scopes",
            "Salesforce login host (SALESFORCE_LOGIN_URL)", "Salesforce login host (SALESFORCE_SANDBOX_LOGIN_URL)",
            "Salesforce OAuth client"} <= checks
    assert text.endswith("All checks passed.\n")
    assert "OK    Slack auth.test: bot @qc-bot in workspace QC Test Workspace" in text
    # Secrets are shown masked only.
    for secret in (world.slack.team.bot_token, SIGNING_SECRET, BOT_CLIENT_SECRET):
        assert secret not in text


async def test_bad_values_fail_each_on_its_own_line_and_nothing_is_contacted(world):
    findings = await world.findings(QC_ENCRYPTION_KEYS="not-a-fernet-key", QC_PUBLIC_URL="http://qc.example.com",
                                    SALESFORCE_LOGIN_URL="https://login.evil.example")
    for variable in ("QC_ENCRYPTION_KEYS", "QC_PUBLIC_URL", "SALESFORCE_LOGIN_URL"):
        failed(findings, variable)
    assert "qc-bot keygen" in failed(findings, "QC_ENCRYPTION_KEYS").detail
    assert findings[-1].status == "skip"
    assert report(findings)[1] == 1
    assert world.slack.calls == [] and world.salesforce.requests == []


async def test_a_revoked_slack_token_fails_auth_test(world):
    world.slack.revoke_token(world.slack.team.bot_token)
    finding = failed(await world.findings(), "Slack auth.test")
    assert "token_revoked" in finding.detail and "Reinstall" in finding.fix


async def test_a_missing_scope_fails_with_the_scope_named(world):
    world.slack.team.scopes.discard("users:read")
    finding = failed(await world.findings(), "Slack scopes")
    assert "users:read" in finding.detail and "reinstall" in finding.fix


async def test_a_missing_email_scope_only_warns(world):
    world.slack.team.scopes.discard("users:read.email")
    finding = next(f for f in await world.findings() if f.check == "Slack scopes")
    assert finding.status == "warn" and "users:read.email" in finding.detail and "confirm" in finding.detail


async def test_an_unreachable_slack_fails(world):
    finding = failed(await world.findings(SLACK_API_URL=f"http://127.0.0.1:{closed_port()}/api/"), "Slack")
    assert "cannot reach" in finding.detail


async def test_an_unreachable_salesforce_login_host_fails(world):
    port = closed_port()
    allowed = world.values["SALESFORCE_ALLOWED_HOSTS"] + f",127.0.0.1:{port}"
    findings = await world.findings(SALESFORCE_SANDBOX_LOGIN_URL=f"http://127.0.0.1:{port}",
                                    SALESFORCE_ALLOWED_HOSTS=allowed)
    finding = failed(findings, "Salesforce login host (SALESFORCE_SANDBOX_LOGIN_URL)")
    assert "did not answer" in finding.detail and "SALESFORCE_SANDBOX_LOGIN_URL" in finding.fix
    assert [f.status for f in findings if f.check == "Salesforce OAuth client"] == ["ok"]


async def test_a_login_url_that_is_not_salesforce_fails(world):
    slack_host = world.slack.base_url.split("://")[1]
    allowed = world.values["SALESFORCE_ALLOWED_HOSTS"] + "," + slack_host
    findings = await world.findings(SALESFORCE_LOGIN_URL=world.slack.base_url, SALESFORCE_ALLOWED_HOSTS=allowed)
    assert "without an OAuth configuration" in failed(findings, "Salesforce login host (SALESFORCE_LOGIN_URL)").detail
    assert not [f for f in findings if f.check == "Salesforce OAuth client"]


async def test_an_unknown_consumer_key_or_wrong_secret_fails(world):
    unknown = failed(await world.findings(SALESFORCE_CLIENT_ID="3MVGunknownConsumerKey"), "Salesforce OAuth client")
    assert "does not know SALESFORCE_CLIENT_ID" in unknown.detail
    wrong = failed(await world.findings(SALESFORCE_CLIENT_SECRET="WRONGSECRET0123"), "Salesforce OAuth client")
    assert "SALESFORCE_CLIENT_SECRET" in wrong.detail


async def test_stored_secrets_that_no_configured_key_decrypts_fail(world, tmp_path):
    old_key = Secret(Fernet.generate_key().decode())
    store = Store(url=sqlite_url(tmp_path / "qc-bot.db"), secret_box=SecretBox(keys=[old_key]))
    await store.open()
    await store.run(lambda repos: repos.installations.save(installation()))
    await store.close()
    finding = failed(await world.findings(), "Database")
    assert "1 of 1 stored secret(s)" in finding.detail and "rotate-keys" in finding.fix
    both = f"{world.values['QC_ENCRYPTION_KEYS']},{old_key.reveal()}"
    assert [f.status for f in await world.findings(QC_ENCRYPTION_KEYS=both) if f.check == "Database"] == ["ok"]


async def test_a_file_that_is_not_a_database_fails(world, tmp_path):
    (tmp_path / "not-a-database.db").write_bytes(b"these bytes are no SQLite header" * 64)
    finding = failed(await world.findings(QC_DB_PATH=str(tmp_path / "not-a-database.db")), "Database")
    assert "cannot be read (file is not a database)" in finding.detail and "QC_DB_PATH" in finding.fix


async def test_a_database_folder_that_does_not_exist_fails(world, tmp_path):
    finding = failed(await world.findings(QC_DB_PATH=str(tmp_path / "missing" / "qc.db")), "Database")
    assert "does not exist" in finding.detail


async def test_socket_mode_checks_the_app_level_token(world):
    good = await world.findings(SLACK_APP_TOKEN=world.slack.app_token, SLACK_SIGNING_SECRET=None)
    assert [f.status for f in good if f.check == "Slack Socket Mode"] == ["ok"]
    assert [f.detail for f in good if f.check == "Slack mode"] == ["Socket Mode, a single workspace"]
    finding = failed(await world.findings(SLACK_APP_TOKEN="xapp-1-A000-1-bogus"), "Slack Socket Mode")
    assert "invalid_auth" in finding.detail and "connections:write" in finding.fix


async def test_multi_workspace_checks_the_oauth_client(world):
    good = await world.findings(SLACK_CLIENT_ID=SLACK_CLIENT_ID, SLACK_CLIENT_SECRET=SLACK_CLIENT_SECRET)
    assert [f.status for f in good if f.check == "Slack OAuth client"] == ["ok"]
    assert [f.status for f in good if f.check == "SLACK_BOT_TOKEN"] == ["ok", "warn"]  # set, and ignored
    finding = failed(await world.findings(SLACK_CLIENT_ID=SLACK_CLIENT_ID, SLACK_CLIENT_SECRET="wrong-secret",
                                          SLACK_BOT_TOKEN=None), "Slack OAuth client")
    assert "bad_client_secret" in finding.detail


async def test_mode_and_spelling_mistakes_are_warned(world):
    findings = await world.findings(QC_PUBLIK_URL="https://qc.example.com", SLACK_API_URL="https://slack.com/api/",
                                    SLACK_BOT_TOKEN="xoxb-will-not-be-tried")
    warnings = {finding.check for finding in findings if finding.status == "warn"}
    assert {"QC_PUBLIK_URL", "QC_PUBLIC_URL"} <= warnings  # a typo; and Slack cannot reach a loopback URL


async def test_the_command_prints_one_line_per_check_and_exits_non_zero(world, tmp_path):
    environment = clean_environment(**{**world.values, "SLACK_API_URL": f"http://127.0.0.1:{closed_port()}/api/"})
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "doctor", cwd=tmp_path,
                                                   env=environment, stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1, stderr.decode()
    lines = stdout.decode().splitlines()
    assert lines[-1] == "1 check(s) failed."
    assert all(line.split()[0] in ("OK", "WARN", "FAIL", "SKIP") for line in lines[:-1])
    assert any(line.startswith("FAIL  Slack: cannot reach") and "→ fix:" in line for line in lines)
    assert any(line.startswith("OK    Salesforce OAuth client") for line in lines)


async def test_a_database_others_may_read_is_warned_with_the_fix(world, tmp_path):
    store = Store(url=sqlite_url(tmp_path / "qc-bot.db"),
                  secret_box=SecretBox(keys=[Secret(world.values["QC_ENCRYPTION_KEYS"])]))
    await store.open()
    await store.close()
    tmp_path.chmod(0o700)
    assert not [f for f in await world.findings() if "permissions" in f.check]

    (tmp_path / "qc-bot.db").chmod(0o644)
    tmp_path.chmod(0o755)
    warned = {f.check: f for f in await world.findings() if f.status == "warn" and "permissions" in f.check}
    assert set(warned) == {"Database permissions", "Database folder permissions"}
    assert "is 0644" in warned["Database permissions"].detail
    assert warned["Database permissions"].fix.startswith(f"chmod 600 {tmp_path / 'qc-bot.db'}")
    assert warned["Database folder permissions"].fix.startswith(f"chmod 700 {tmp_path}")


async def test_a_postgresql_database_is_read_through_database_url(world, postgres_url):
    old_key = Secret(Fernet.generate_key().decode())
    store = Store(url=postgres_url, secret_box=SecretBox(keys=[old_key]))
    await store.open()
    await store.run(lambda repos: repos.installations.save(installation()))
    await store.close()
    finding = failed(await world.findings(DATABASE_URL=postgres_url), "Database")
    assert "1 of 1 stored secret(s)" in finding.detail and "rotate-keys" in finding.fix
    both = f"{world.values['QC_ENCRYPTION_KEYS']},{old_key.reveal()}"
    findings = await world.findings(DATABASE_URL=postgres_url, QC_ENCRYPTION_KEYS=both)
    [ok] = [finding for finding in findings if finding.check == "Database"]
    assert ok.status == "ok" and postgres_url.rsplit("/", 1)[-1] in ok.detail
    unreachable = postgres_url.replace("postgresql+psycopg://postgres@", "postgresql://postgres:s3cret-pw@")
    unreachable = unreachable.rsplit("/", 1)[0] + "/no_such_database"
    findings = await world.findings(DATABASE_URL=unreachable)
    finding = failed(findings, "Database")
    assert "cannot be read" in finding.detail
    assert "s3cret-pw" not in report(findings)[0], "no line of the report shows the database's password"


async def test_a_database_across_a_network_is_asked_to_require_tls(world, postgres_url):
    # The test server is on this machine; `hostaddr` connects there while the URL names a host elsewhere.
    parsed = make_url(postgres_url)
    remote = parsed.set(host="db.example.com", query={**parsed.query, "hostaddr": "127.0.0.1"})
    url = remote.render_as_string(hide_password=False)
    findings = {finding.check: finding for finding in await world.findings(DATABASE_URL=url)}
    assert findings["Database"].status == "ok", findings["Database"]
    warned = findings["Database encryption"]
    assert warned.status == "warn" and "db.example.com" in warned.detail and "sslmode=prefer" in warned.detail
    assert "PGSSLMODE=require" in warned.fix

    findings = {finding.check: finding for finding in await world.findings(DATABASE_URL=url, PGSSLMODE="require")}
    assert findings["Database encryption"].status == "ok"
    required = remote.update_query_dict({"sslmode": "verify-full"}).render_as_string(hide_password=False)
    assert "Database encryption" not in {finding.check for finding in await world.findings(DATABASE_URL=required)
                                         if finding.status == "warn"}

    local = {finding.check for finding in await world.findings(DATABASE_URL=postgres_url)}
    assert "Database encryption" not in local, "a server on this machine has nobody between to listen in"
