"""Every Slack surface qc-bot builds, drawn with hostile and worst-case inputs (255-character names, 40
callback URLs, 50 orgs, 40 deploy errors): nothing from outside can mention, link or break anything, and
everything fits Slack's limits, judged by slack_sdk's own block models and by the Slack stand-in."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot import failures, messages
from bot.messages import blocks as primitives
from bot.messages import delivery
from bot.messages.blocks import escape_mrkdwn, fit, inert, plain
from bot.provisioning.checklist import ChecklistItem, Mark
from bot.redaction import Secret
from standins.slack import validate_blocks
from standins.slack.blocks import validate_view
from tests.support.mrkdwn import mrkdwn_texts

HOSTILE = ["<!channel> Acme & <Sons>", "<https://evil.example|click>", "<@U0EVIL>", "<!here>", "a &amp; b",
           "<#C0EVIL>", "<!date^1^{date}|x>"]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORG_ID = "00D5g0000000001EAA"
REQUESTER = "U0ADA"


def long_name(seed: str) -> str:
    """A 255-character name beginning with the hostile `seed`, with `&` and `<` right where cuts fall."""
    return (seed + " & <x> " * 40)[:255]


def checklist(name: str) -> list[ChecklistItem]:
    urls = ", ".join(f"https://{name}.example/callback/{n}" for n in range(40))
    errors = "; ".join(f"CustomObject {name}{n}: {name} is not valid" for n in range(40))
    return [
        ChecklistItem("App name", Mark.OK, name),
        ChecklistItem("Callback URL", Mark.FAIL, f"expected https://scan.qualityclouds.com, found {urls}"),
        ChecklistItem("Client credentials flow", Mark.WARN, f"on, run as {name}@acme.example. {errors}"),
        *(ChecklistItem(f"Setting {n}", Mark.OK, f"{name} (repaired; was {urls})") for n in range(10)),
    ]


def connected(name: str, **overrides):
    values = dict(org_name=name, org_id=ORG_ID, is_sandbox=False, instance_url=f"https://{name}.my.salesforce.com",
                  app_kind_label="Connected App", app_name=name, created=False, consumer_key_mask="••••••••KEY4",
                  consumer_secret_mask=None, secret_unavailable=failures.SecretUnreadable.CONNECTED_APP,
                  checklist=checklist(name), requester=REQUESTER)
    values.update(overrides)
    return messages.ConnectedOrg(**values)


def overview(name: str, n: int) -> messages.OrgOverview:
    return messages.OrgOverview(
        org_name=f"{name} {n}", org_id=ORG_ID[:-3] + f"{n:03d}", is_sandbox=n % 2 == 0, broken=n % 3 == 0,
        app_kind_label="External Client App", app_name=name, setup=["provisioned", "failed", "in_progress",
                                                                    "unknown"][n % 4],
        failure_code=failures.Failure.DEPLOY_FAILED, checklist_failures=n % 2, checklist_warnings=1, tokens_tracked=3,
        nearest=messages.NearestExpiry(token_kind="app", app_name=name, owner=f"{name}@acme.example",
                                       expires_at=NOW + timedelta(days=n - 3)))


def every_message(name: str) -> list[tuple[str, messages.SlackMessage]]:
    """(what, message) for every public message builder, with `name` wherever the outside has a say."""
    detail = "; ".join(f"{name}: error {n}" for n in range(40))
    orgs = [overview(name, n) for n in range(50)]
    surfaces: list[tuple[str, messages.SlackMessage]] = [
        ("usage", messages.usage(f"I don't know the command `{name}`.")),
        ("not allowed", messages.not_allowed()),
        ("org gone", messages.org_gone()),
        ("slow down", messages.slow_down()),
        ("link", messages.connect_link(link_url="https://bot.example.com/salesforce/oauth/start?link=" + "x" * 500,
                                       login_host=name, run_as=f"{name}@acme.example", expires_at=NOW)),
        ("confirm", messages.authorization_to_confirm(
            who=messages.WhoAuthorized(org_name=name, org_id=ORG_ID, is_sandbox=True, username=name, email=name,
                                       email_verified=True, requester_email=name),
            connection_id="c" * 32, confirm_by=NOW)),
        ("confirmed", messages.authorization_confirmed(org_name=name)),
        ("cancelled", messages.authorization_cancelled()),
        ("expired", messages.authorization_expired()),
        ("status", messages.org_connected(connected(name))),
        ("status, short name", messages.org_connected(connected("Acme"))),
        ("status, created", messages.org_connected(connected(name, created=True, secret_unavailable=None))),
        ("status, no key", messages.org_connected(connected(name, consumer_key_mask=None))),
        ("dashboard, empty", messages.status([], now=NOW)),
        ("dashboard", messages.status(orgs, now=NOW)),
        ("not found", messages.org_not_found(target=name, known=[f"{name} {n}" for n in range(50)])),
        ("ambiguous", messages.org_ambiguous(target=name, matches=[(f"{name} {n}", ORG_ID) for n in range(50)])),
        ("disconnect?", messages.disconnect_confirmation(org_name=name, org_id=ORG_ID, delete_app=True,
                                                         app_name=name)),
        ("disconnect? keep", messages.disconnect_confirmation(org_name=name, org_id=ORG_ID, delete_app=False,
                                                              app_name=name)),
        ("not disconnected", messages.disconnect_cancelled(org_id=name)),
        ("disconnected", messages.disconnected(org_name=name, org_id=ORG_ID, app_deleted=True, revoked=False,
                                               app_name=name)),
        ("disconnected notice", messages.org_disconnected_notice(org_name=name, org_id=ORG_ID, user_id=REQUESTER,
                                                                 app_deleted=False, app_name=name)),
        ("reveal offer", messages.reveal_offer(reveal_id="r" * 32, org_name=name, expires_minutes=15)),
        ("reveal retry", messages.reveal_retry()),
        ("revealed", messages.revealed(org_name=name)),
        ("broken", messages.connection_broken(org_name=name, org_id=ORG_ID, detail=detail)),
        ("channel fallback", delivery.channel_fallback(
            original=messages.org_connected(connected(name)).as_payload(), channel_id="C0CHAN",
            error=failures.ChannelError.NOT_IN_CHANNEL)),
        ("refused note", delivery.message_refused(channel_id="C0CHAN", error=name)),
    ]
    surfaces += [(f"failed {code}", messages.connection_failed(code=code, detail=detail, org_label=name,
                                                               requester=REQUESTER, connection_id="c" * 32))
                 for code in failures.Failure]
    surfaces += [(f"proof {status} {problem}", messages.org_connected(connected(name), proof=messages.SignInProof(
                      status=status, run_as=name, problem=problem, detail=detail)))
                 for status in ("proving", "proved", "failed", "not_run") for problem in failures.ProofProblem]
    surfaces += [(f"disconnect failed {code}", messages.disconnect_failed(code=code, detail=detail))
                 for code in failures.DisconnectProblem]
    surfaces += [(f"tokens unreadable {problem}", messages.app_tokens_unreadable(
                      org_name=name, org_id=ORG_ID, app_name=name, username=name, problem=problem, detail=detail))
                 for problem in failures.TokenReadProblem]
    surfaces += [(f"refused {problem}", messages.confirmation_refused(problem)) for problem in failures.ConfirmProblem]
    surfaces += [(f"reveal refused {problem}", messages.reveal_refused(problem)) for problem in failures.RevealProblem]
    for kind in ("bot", "app"):
        for days in (30, 7, 1, 0):
            surfaces.append((f"expiry {kind} {days}", messages.expiry_warning(messages.ExpiryNotice(
                org_name=name, org_id=ORG_ID, token_kind=kind, app_name=name, owner=name,
                expires_at=NOW + timedelta(days=days), days_left=days, policy=name, as_of=NOW))))
    surfaces += watch_and_rotation_messages(name, detail)
    return surfaces


def watch_and_rotation_messages(name: str, detail: str) -> list[tuple[str, messages.SlackMessage]]:
    """The card as first posted, the sign-in watch, drift alerts, `/qc check`'s report, rotation and revocation."""
    from bot.messages import check, drift, rotation

    notice = drift.DriftNotice(org_name=name, org_id=ORG_ID, app_name=name, setting=name, expected=name,
                               observed=name, changed_by=name, changed_at=NOW, alert_id=7)
    checked = check.CheckedOrg(
        org_name=name, org_id=ORG_ID, ran=True, connection="works",
        settings=(("error", check.setting_state_line(setting=name, desired=name, actual=name, ok=False)),),
        sign_in="failing",
        sign_in_problem=next(iter(failures.ProofProblem)), sign_in_detail=detail, run_as=name,
        tokens=tuple(check.TokenLine(token_kind="app", app_name=name, owner=name, expires_at=NOW) for _ in range(40)))
    surfaces: list[tuple[str, messages.SlackMessage]] = [
        ("card setting up", messages.org_card_setting_up(org_name=name, org_id=ORG_ID, is_sandbox=True,
                                                         instance_url=f"https://{name}", requester="U0ADA")),
        ("sign-in resolved", messages.sign_in_resolved(org_name=name, org_id=ORG_ID, run_as=name)),
        ("drift alert", drift.drift_alert(notice)),
        ("drift alert, repaired", drift.drift_alert(notice, outcome=drift.drift_repaired("U0ADA"),
                                                    actionable=False)),
        ("drift resolved", drift.drift_resolved(org_name=name, setting=name, app_name=name, repaired_by=None)),
        ("check report", check.check_report([checked] * 50, now=NOW)),
        ("rotation started", rotation.rotation_started(org_name=name, incident=True)),
        ("rotation offer", rotation.rotation_reveal_offer(reveal_id="r" * 32, org_name=name, expires_minutes=15)),
        ("rotation done", rotation.rotation_done(
            rotation_id="r" * 32, org_name=name, org_id=ORG_ID, user_id="U0ADA", new_key_mask="••••abcd",
            new_secret_mask="••••wxyz", old_key_mask="••••old1", old_valid_until=NOW, retired=False, incident=False,
            proof_problem=next(iter(failures.ProofProblem)), proof_detail=detail)),
        ("old retired", rotation.old_credentials_retired(org_name=name, org_id=ORG_ID, user_id="U0ADA",
                                                         old_key_mask="••••old1")),
        ("retire answer", rotation.retire_answer(retired=True, org_name=name)),
        ("retire answer, already", rotation.retire_answer(retired=False, org_name=name)),
        ("connected app steps", rotation.connected_app_rotation_steps(org_name=name, instance_url=f"https://{name}",
                                                                      app_name=name)),
        ("revoke confirmation", rotation.revoke_confirmation(org_name=name, org_id=ORG_ID, username=name,
                                                             app_name=name)),
        ("tokens revoked", rotation.tokens_revoked(org_name=name, org_id=ORG_ID, user_id="U0ADA", count=40,
                                                   usernames=[name] * 40, app_name=name)),
    ]
    surfaces += [(f"sign-in failing {problem}", messages.sign_in_failing(
        org_name=name, org_id=ORG_ID, run_as=name, problem=problem, detail=detail))
        for problem in failures.ProofProblem]
    surfaces += [(f"credentials failed {code}", rotation.credentials_failed(code=code, detail=detail, org_name=name))
                 for code in failures.CredentialsProblem]
    return surfaces


def every_view(name: str) -> list[tuple[str, dict]]:
    orgs = [overview(name, n) for n in range(50)]
    return [
        ("home", messages.home_view(orgs, now=NOW)),
        ("home, empty", messages.home_view([], now=NOW)),
        ("reveal", messages.reveal_modal(handoff=messages.HandOff(
            org_name=name, is_sandbox=False, org_url=f"https://{name}.my.salesforce.com", login="my_domain",
            login_url=f"https://{name}.my.salesforce.com"), consumer_key=Secret("K" * 200),
                                         consumer_secret=Secret("S" * 200),
                                         secret_note=messages.secret_unavailable_note(
                                             failures.SecretUnreadable.CONNECTED_APP, app_name=name))),
        ("answer", messages.answer_modal(title=name, message=messages.status(orgs, now=NOW))),
    ]


OURS = re.compile(r"<@U0ADA>|<#C0CHAN>|<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>|]+>"
                  r"|<!date\^\d+\^\{time\}\|[^<>|]+>")


def assert_inert(text: str, where: str) -> None:
    """Only qc-bot's own mentions and dates are `<...>`; every `&` starts one of the three escapes."""
    rest = OURS.sub("", text)
    assert "<" not in rest and ">" not in rest, f"{where}: {rest}"
    assert not re.search(r"&(?!amp;|lt;|gt;)", rest), f"{where}: {rest}"


def assert_fits(blocks: list[dict], where: str, *, max_blocks: int) -> None:
    assert len(blocks) <= max_blocks, where
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, where
        parsed.validate_json()  # slack_sdk's models raise SlackObjectFormationError past a limit
    assert validate_blocks(blocks, max_blocks=max_blocks) == [], where
    for block in blocks:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000, where
            assert all(len(item["text"]) <= 2000 for item in block.get("fields", [])), where
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150, where
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75 and len(element.get("value", "")) <= 2000, where


@pytest.mark.parametrize("seed", HOSTILE)
def test_every_message_is_inert_and_fits_slacks_limits_whatever_it_is_given(seed):
    for name in (seed, long_name(seed)):
        for what, message in every_message(name):
            assert message.text.strip(), what
            assert len(message.text) <= primitives.FALLBACK_TEXT_MAX, what
            assert_inert(message.text, f"{what} (text)")
            for text in mrkdwn_texts(message.blocks):
                assert_inert(text, what)
            assert_fits(message.blocks, what, max_blocks=50)


@pytest.mark.parametrize("seed", HOSTILE)
def test_every_view_is_inert_and_fits_slacks_limits_whatever_it_is_given(seed):
    for name in (seed, long_name(seed)):
        for what, view in every_view(name):
            View(**view).validate_json()
            assert validate_view(view, expected_type=view["type"]) == [], what
            assert len(view.get("title", {}).get("text", "")) <= 24, what
            for text in mrkdwn_texts(view["blocks"]):
                assert_inert(text, what)
            assert_fits(view["blocks"], what, max_blocks=100)


def test_a_long_name_is_shortened_in_a_header_but_the_meaning_is_kept():
    name = long_name("Acme")
    status = messages.org_connected(connected(name, checklist=[ChecklistItem("App name", Mark.WARN, "x")]))
    heading = status.blocks[0]["text"]["text"]
    assert heading.startswith("✅ Salesforce org Acme") and heading.endswith(
        "… is connected to Quality Clouds (1 warning)")
    assert inert(name, 10_000) in status.blocks[1]["fields"][0]["text"], "the full name is in the Org field"
    warning = messages.expiry_warning(messages.ExpiryNotice(
        org_name=name, org_id=ORG_ID, token_kind="app", app_name="QualityClouds", owner="ada@acme.example",
        expires_at=NOW + timedelta(days=7), days_left=7, policy="90 days", as_of=NOW))
    assert warning.blocks[0]["text"]["text"].endswith("… expires in 7 days")


def test_long_lists_end_with_how_many_more():
    not_found = messages.org_not_found(target="nope", known=[f"Org {n}" for n in range(35)])
    assert "*Org 19*, …and 15 more" in not_found.blocks[0]["text"]["text"]
    dashboard = messages.status([overview("Acme", n) for n in range(50)], now=NOW)
    assert "…and 30 more orgs not shown" in str(dashboard.blocks)
    status = messages.org_connected(connected("Acme"))
    assert "…" in status.blocks[2]["text"]["text"]


def test_a_cut_never_splits_an_escape_a_mention_or_a_date():
    assert fit(escape_mrkdwn("a" * 8 + "&b"), 10) == "a" * 8 + "…"
    assert fit("x" * 5 + "<@U0ADA> tail", 10) == "x" * 5 + "…"
    assert fit("short", 10) == "short"
    for limit in range(1, 40):
        cut = fit(escape_mrkdwn("<!channel> & <@U1> &&&"), limit)
        assert len(cut) <= limit and not re.search(r"&(?!amp;|lt;|gt;)", cut.removesuffix("…")), cut


def test_times_are_shown_in_the_readers_zone_with_the_utc_text_as_fallback():
    warning = messages.expiry_warning(messages.ExpiryNotice(
        org_name="Acme", org_id=ORG_ID, token_kind="bot", app_name="qc-bot", owner=None,
        expires_at=datetime(2026, 3, 8, 12, 0, tzinfo=UTC), days_left=7, policy="90 days", as_of=NOW))
    stamp = int(datetime(2026, 3, 8, 12, 0, tzinfo=UTC).timestamp())
    assert f"<!date^{stamp}^{{date_short_pretty}} {{time}}|2026-03-08 12:00 UTC>" in warning.blocks[1]["text"]["text"]
    assert "2026-03-08 12:00 UTC" in warning.text and "<!date" not in warning.text
    assert plain(f"at {primitives.when_local(NOW)}") == "at 2026-03-01 12:00 UTC"


def test_help_marks_the_commands_only_admins_may_run():
    lines = messages.usage().blocks[0]["text"]["text"].splitlines()
    admin_only = {line.split("`")[1] for line in lines if "*(admins)*" in line and line.startswith("`")}
    everyone = {line.split("`")[1] for line in lines if "*(admins)*" not in line and line.startswith("`")}
    assert "/qc connect-org" in admin_only and "/qc disconnect-org &lt;org id or name&gt; [delete-app]" in admin_only
    assert everyone == {"/qc status", "/qc check [org id or name]", "/qc help"}


def test_an_empty_app_home_says_how_to_connect_an_org():
    text = json.dumps(messages.home_view([], now=NOW))
    assert "/qc connect-org" in text and "To connect one" in text


def test_a_button_value_is_never_cut():
    with pytest.raises(ValueError):
        primitives.button(action_id="a", text="Go", value="v" * 2001)
