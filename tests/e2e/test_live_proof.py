"""SPEC §2 "Live proof", end to end over HTTP: after provisioning, qc-bot signs in with the app's own key and
secret on the org's My Domain, waits out Salesforce's propagation of a new app (the stand-in's default: two
minutes of the shared ManualClock), and edits the channel status in place with the outcome."""

import json
import re
from datetime import timedelta

from bot.failures import ProofProblem
from bot.messages.explanations import PROOF_EXPLANATIONS
from tests.support.stack import ADMIN, CHANNEL, FAST_PROCESS, Stack

PROVING = "⏳ Sign-in:"


def sign_ins(stack):
    return [record for record in stack.salesforce.requests if record.operation == "token:client_credentials"]


async def proving_status(stack):
    """The status message, posted once provisioning is done, saying that the sign-in is being proved."""
    status = await stack.status_message()
    assert PROVING in status.text
    await stack.slack.wait_for(lambda: sign_ins(stack), what="a first sign-in attempt")
    return status


async def edited_status(stack, mark):
    """The status message once the proof's edit has reached Slack."""
    return await stack.slack.wait_for(
        lambda: next((m for m in stack.slack.messages(CHANNEL) if f"{mark} Sign-in:" in m.text), None),
        what=f"the status edited to {mark}")


def assert_edits_of_the_card(stack, card):
    """Every edit went to the one card: the journey's outcome (unless it was folded into the post, which had not
    gone out yet), then the proof's."""
    updates = stack.slack.calls_to("chat.update")
    assert {(update.params["channel"], update.params["ts"]) for update in updates} == {(CHANNEL, card.ts)}
    assert 1 <= len(updates) <= 2 and "Sign-in:" in updates[-1].params["text"]
    assert PROVING not in updates[-1].params["text"]


def proof_row(stack):
    return stack.query("SELECT proof_status, proof_problem, proof_attempts FROM connections")[0]


async def test_the_status_is_edited_in_place_once_the_new_app_signs_in(stack):
    await stack.connect()
    status = await proving_status(stack)
    assert b"invalid_client_id" in sign_ins(stack)[0].response_body, (
        "a brand-new app is unknown to Salesforce at first")
    assert proof_row(stack)[0] == "proving"

    stack.clock.advance(timedelta(minutes=2))  # Salesforce has propagated the app
    proved = await edited_status(stack, "✅")
    assert proved.ts == status.ts
    assert "Quality Clouds' credentials sign in to Acme Corp (runs as admin@acme.example)" in proved.text
    assert PROVING not in proved.text and proved.text.startswith("✅ Salesforce org Acme Corp is connected")
    await stack.settle()
    assert len(stack.slack.calls_to("chat.postMessage")) == 1, "the result is an edit, not a second post"
    assert_edits_of_the_card(stack, status)
    assert len(stack.slack.messages(CHANNEL)) == 1

    attempts = sign_ins(stack)
    assert {record.role for record in attempts} == {"mydomain"}, "never login or test: only My Domain"
    assert {record.org for record in attempts} == {"Acme Corp"}
    assert attempts[-1].status == 200 and b'"token_type": "Bearer"' in attempts[-1].response_body.replace(
        b'":"', b'": "')
    assert proof_row(stack)[:2] == ("proved", None)
    assert proof_row(stack)[2] == len(attempts)
    assert stack.query("SELECT outcome FROM audit_log WHERE action = 'prove'") == [("proved",)]
    secret = stack.org.consumer_secret("QualityClouds")
    assert secret not in stack.log_text() and secret.encode() not in stack.database_bytes()


async def test_the_revealed_key_and_secret_sign_in(stack):
    """Whatever the bot believes, the values the admin copies into Quality Clouds must work: the test signs
    in with exactly what the reveal modal shows."""
    await stack.connect()
    await proving_status(stack)
    offer = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "reveal_credentials" in str(e.blocks)])
    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials", user_id=ADMIN)
    [modal] = await stack.slack.wait_for(lambda: stack.slack.opened_views)
    key, secret = revealed_pair(modal.view)

    stack.clock.advance(timedelta(minutes=2))
    async with stack.browser.post(stack.org.my_domain_url + "/services/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": key, "client_secret": secret}) as response:
        body = await response.json()
    assert response.status == 200, body
    assert body["token_type"] == "Bearer" and body["signature"]
    await edited_status(stack, "✅")


def revealed_pair(view):
    """The consumer key and secret exactly as the modal shows them to the admin."""
    shown = json.dumps(view["blocks"])
    values = {label: re.search(label + r"[^`]*```([^`]+)```", shown) for label in ("Consumer Key", "Consumer Secret")}
    assert all(values.values()), shown
    return values["Consumer Key"].group(1), values["Consumer Secret"].group(1)


async def test_an_inactive_run_as_user_ends_the_proof_with_the_remedy(stack):
    stack.org.add_user(username="integration@acme.example", api_only=True)
    await stack.connect("connect-org run-as=integration@acme.example")
    await proving_status(stack)
    stack.org.user("integration@acme.example").active = False
    stack.clock.advance(timedelta(minutes=2))
    failed = await edited_status(stack, "❌")
    assert "Quality Clouds' credentials do not sign in" in failed.blocks[0]["text"]["text"]
    assert PROOF_EXPLANATIONS[ProofProblem.RUN_AS_INACTIVE].what in failed.text
    assert "Activate the user in Setup → Users" in failed.text
    assert "user is inactive" in failed.text, "Salesforce's own words are quoted"
    assert proof_row(stack)[:2] == ("failed", "run_as_inactive")


async def test_client_credentials_switched_off_after_the_deploy(stack):
    await stack.connect()
    await proving_status(stack)
    policies = stack.org.external_client_apps["QualityClouds"]["ExtlClntAppOauthConfigurablePolicies"]
    policies["isClientCredentialsFlowEnabled"] = False  # an admin in Setup, right after qc-bot's deploy
    stack.clock.advance(timedelta(minutes=2))
    failed = await edited_status(stack, "❌")
    assert "no client credentials user enabled" in failed.text
    assert "Enable Client Credentials Flow" in failed.text
    assert proof_row(stack)[:2] == ("failed", "client_credentials_off")
    await stack.settle()
    assert len(stack.slack.calls_to("chat.postMessage")) == 1
    assert_edits_of_the_card(stack, failed)


async def test_a_wrong_secret_is_final_at_once(stack):
    await stack.connect()
    await proving_status(stack)
    glob = stack.org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]
    stack.org._secrets[("ExtlClntAppGlobalOauthSettings", glob["fullName"])] = "SomebodyElsesSecret000000"
    stack.clock.advance(timedelta(minutes=2))
    failed = await edited_status(stack, "❌")
    assert "invalid client credentials" in failed.text and "Do not use the revealed secret" in failed.text
    attempts_after_outcome = len(sign_ins(stack))
    await stack.settle()
    assert len(sign_ins(stack)) == attempts_after_outcome, "a wrong secret is not retried"
    assert proof_row(stack)[:2] == ("failed", "wrong_secret")


async def test_an_app_never_recognised_is_reported_when_the_window_closes(stack):
    stack.org.credentials_propagation = timedelta(hours=1)
    await stack.connect()
    await proving_status(stack)
    stack.clock.advance(timedelta(minutes=10))
    failed = await edited_status(stack, "❌")
    assert "client identifier invalid" in failed.text
    assert PROOF_EXPLANATIONS[ProofProblem.NOT_PROPAGATED].what in failed.text
    assert proof_row(stack)[:2] == ("failed", "not_propagated")


async def test_an_app_that_requires_pkce_is_explained(stack):
    stack.org.pkce_required_org_wide = True  # the app's isPkceRequired=false does not stick
    await stack.connect()
    await proving_status(stack)
    stack.clock.advance(timedelta(minutes=2))
    failed = await edited_status(stack, "❌")
    assert "PKCE is required" in failed.text and "Require Proof Key for Code Exchange" in failed.text


async def test_with_propagation_switched_off_the_first_sign_in_proves_it(stack):
    stack.org.credentials_propagation = timedelta(0)
    await stack.connect()
    await edited_status(stack, "✅")
    assert len(sign_ins(stack)) == 1
    await stack.settle()
    # Proved before the post went out, the result folds into it or edits it: either way one message.
    assert len(stack.slack.calls_to("chat.postMessage")) == 1 and len(stack.slack.messages(CHANNEL)) == 1


async def test_killed_during_the_proof_window_the_restarted_serve_finishes_it(tmp_path):
    stack = Stack(tmp_path, env=FAST_PROCESS)
    await stack.start(in_process=False)
    try:
        stack.org.deploy_polls_until_done = 0
        await stack.browse(await stack.request_link())
        status = await stack.slack.wait_for(
            lambda: next((m for m in stack.slack.messages(CHANNEL) if PROVING in m.text), None),
            what="the status posted while proving", timeout=30)
        await stack.slack.wait_for(lambda: sign_ins(stack), what="a first sign-in attempt", timeout=30)
        await stack.slack.wait_for(lambda: stack.query(
            "SELECT status FROM notifications WHERE dedupe_key LIKE 'status:%' OR dedupe_key LIKE 'outcome:%'")
            == [("sent",), ("sent",)], timeout=30,
            what="the card and its set-up edit recorded (a kill between Slack's answer and the record is the "
                 "outbox's own case)")
        await stack.kill_bot_process()
        assert proof_row(stack)[0] == "proving"

        stack.clock.advance(timedelta(minutes=2))  # Salesforce propagated the app while qc-bot was down
        await stack.start_bot_process()
        proved = await stack.slack.wait_for(
            lambda: next((m for m in stack.slack.messages(CHANNEL) if "✅ Sign-in:" in m.text), None),
            what="the same status edited to ✅", timeout=30)
        assert proved.ts == status.ts
        await stack.slack.wait_for(lambda: stack.query(
            "SELECT status FROM notifications WHERE dedupe_key LIKE 'proof:%'") == [("sent",)], timeout=30)
        await stack.settle()
        assert len(stack.slack.calls_to("chat.postMessage")) == 1
        assert_edits_of_the_card(stack, status)
        assert proof_row(stack)[0] == "proved"
    finally:
        await stack.stop()


async def test_without_the_secret_the_status_says_the_sign_in_was_not_tried(stack):
    """An existing Connected App qc-bot did not create: Salesforce never returns its secret."""
    stack.org.seed_connected_app("QualityClouds", consumer_key="ExistingKey0123456789",
                                 consumer_secret="ExistingSecret0123456789", client_credentials_user=None)
    await stack.connect()
    status = await stack.status_message()
    assert "⚠️ Sign-in: qc-bot could not try the sign-in: it does not hold the app's consumer secret" in status.text
    assert PROVING not in status.text
    await stack.settle()
    assert sign_ins(stack) == [] and all(PROVING not in call.params["text"] and call.params["ts"] == status.ts
                                         for call in stack.slack.calls_to("chat.update"))
    assert proof_row(stack)[:2] == ("not_run", "secret_unknown")


async def test_a_repair_proves_the_credentials_again(stack):
    stack.org.credentials_propagation = timedelta(0)
    await stack.connect()
    await edited_status(stack, "✅")
    await stack.connect()
    await stack.slack.wait_for(
        lambda: [m for m in stack.slack.messages(CHANNEL) if "checked and repaired" in m.text
                 and "✅ Sign-in:" in m.text], what="the repaired org's status edited to ✅")
    await stack.settle()
    assert len(stack.slack.calls_to("chat.postMessage")) == 2, "one status per run, each proved in place"
    assert all("✅ Sign-in:" in message.text for message in stack.slack.messages(CHANNEL))
    assert [row[0] for row in stack.query("SELECT proof_status FROM connections")] == ["proved", "proved"]


async def test_where_pkce_only_guards_the_web_flow_the_same_app_signs_in(stack):
    stack.org.pkce_required_org_wide = True
    stack.org.client_credentials_refuse_pkce = False  # the stand-in's other reading of reference §1.7
    await stack.connect()
    await proving_status(stack)
    stack.clock.advance(timedelta(minutes=2))
    await edited_status(stack, "✅")
