"""The proof's schedule on simulated time (each wait moves the clock the stand-in reads), with production
`proof_retry` minus its jitter: when it signs in, how often it tries, when it gives up, and that a resumed
proof keeps its window."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.clock import ManualClock
from bot.connect.proof import SignInProver
from bot.failures import ProofProblem
from bot.redaction import Secret
from bot.salesforce.hosts import HostPolicy
from bot.salesforce.http import SalesforceHttp
from bot.salesforce.oauth import SalesforceOAuth
from bot.timings import Timings
from standins.salesforce import FakeSalesforce

KEY, SECRET = "proofKey000000000001", "proofSecret00000001"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world():
    clock = ManualClock(START)
    fake = FakeSalesforce(clock=clock.now)
    org = fake.add_org(name="Proof Corp", admin_username="admin@proof.example")
    await fake.start()
    org.seed_connected_app("QualityClouds", consumer_key=KEY, consumer_secret=SECRET,
                           client_credentials_user=org.admin.username)
    org.credentials_changed(KEY)  # just deployed
    timings = Timings()
    async with aiohttp.ClientSession() as session:
        http = SalesforceHttp(session=session, host_policy=HostPolicy.from_entries(fake.allowed_hosts),
                              retry=replace(timings.salesforce_retry, jitter=0.0), timeout_seconds=5)
        oauth = SalesforceOAuth(http=http, client_id="unused", client_secret=Secret("unused"),
                                redirect_uri="https://unused.example/cb")
        yield clock, org, oauth
    await fake.stop()


async def prove(clock, org, oauth, *, started_at=START, attempts_before=0, secret=SECRET):
    attempts = []

    async def simulated_sleep(seconds):
        clock.advance(timedelta(seconds=seconds))

    async def count():
        attempts.append((clock.now() - started_at).total_seconds())

    timings = Timings()
    prover = SignInProver(oauth=oauth, clock=clock, retry=replace(timings.proof_retry, jitter=0.0),
                          window=timings.proof_window, sleep=simulated_sleep)
    outcome = await prover.prove(my_domain_url=org.my_domain_url, consumer_key=Secret(KEY),
                                 consumer_secret=Secret(secret), started_at=started_at,
                                 attempts_before=attempts_before, on_attempt=count)
    return outcome, attempts


async def test_two_minutes_of_propagation_take_seven_attempts_and_about_two_minutes(world):
    outcome, attempts = await prove(*world)
    assert outcome.problem is None
    assert attempts == [0, 5, 15, 35, 65, 95, 125]


async def test_an_app_never_recognised_is_given_up_within_the_window(world):
    clock, org, oauth = world
    org.credentials_propagation = timedelta(hours=1)
    outcome, attempts = await prove(clock, org, oauth)
    assert outcome.problem is ProofProblem.NOT_PROPAGATED and "client identifier invalid" in outcome.detail
    assert attempts[-1] <= 600 and clock.now() - START <= timedelta(minutes=10)
    assert len(attempts) == 22 and attempts[-1] == 575, "every 30 s once the backoff tops out"


async def test_a_resumed_proof_keeps_its_window_and_schedule(world):
    clock, org, oauth = world
    org.credentials_propagation = timedelta(hours=1)
    clock.advance(timedelta(minutes=9, seconds=50))  # the process was down for most of the window
    outcome, attempts = await prove(clock, org, oauth, attempts_before=12)
    assert outcome.problem is ProofProblem.NOT_PROPAGATED
    assert attempts == [590], "one attempt on resume; the next wait would pass the window"


async def test_any_other_answer_is_final_at_once(world):
    clock, org, oauth = world
    clock.advance(timedelta(minutes=2))
    outcome, attempts = await prove(clock, org, oauth, secret="notTheSecret0000001")
    assert outcome.problem is ProofProblem.WRONG_SECRET and len(attempts) == 1
