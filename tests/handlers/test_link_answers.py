"""The connect-org acknowledgement's template: the JSON it makes is, byte for byte, the JSON of the message
built in full, whatever the login host, run-as user, expiry and link; a link too long for the fallback text is
cut exactly as the full message cuts it."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot import messages
from bot.connect.journey import Begun
from handlers.commands import LinkAnswers

EXPIRES = datetime(2026, 12, 6, 7, 30, 15, 250_000, tzinfo=UTC)
LINK = "https://qc.example/salesforce/oauth/start?link=AbC-dEf_123"


def full(begun: Begun) -> str:
    message = messages.connect_link(link_url=begun.link_url, login_host=begun.login_url, run_as=begun.run_as,
                                    expires_at=begun.expires_at)
    return json.dumps({**message.as_payload(), "response_type": "ephemeral"})


@pytest.mark.parametrize("login_url, run_as", [
    ("https://login.salesforce.com", None),
    ("https://test.salesforce.com", "integration@acme.example"),
    ("https://acme.my.salesforce.com", "o'brien+<!channel>&co@acme.example"),
])
def test_the_template_makes_the_json_of_the_full_message(login_url, run_as):
    answers = LinkAnswers()
    for number, expires_at in enumerate([EXPIRES, EXPIRES + timedelta(milliseconds=500),
                                         EXPIRES + timedelta(seconds=1), EXPIRES + timedelta(minutes=1)]):
        begun = Begun(link_url=f"{LINK}{number}", login_url=login_url, run_as=run_as, expires_at=expires_at)
        assert answers.render(begun) == full(begun)


def test_a_link_is_json_escaped_like_the_rest():
    begun = Begun(link_url='https://qc.example/"odd"\\path/é?link=x', login_url="https://login.salesforce.com",
                  run_as=None, expires_at=EXPIRES)
    rendered = LinkAnswers().render(begun)
    assert rendered == full(begun)
    assert json.loads(rendered)["blocks"][0]["accessory"]["url"] == begun.link_url


def test_each_second_has_its_own_expiry_and_a_link_too_long_for_the_fallback_is_cut_as_in_full():
    answers = LinkAnswers()
    first = Begun(link_url=LINK, login_url="https://login.salesforce.com", run_as=None, expires_at=EXPIRES)
    later = Begun(link_url=LINK, login_url="https://login.salesforce.com", run_as=None,
                  expires_at=EXPIRES + timedelta(minutes=3))
    assert answers.render(first) != answers.render(later), "the expiry shown moves with the link's"
    long_link = Begun(link_url=LINK + "x" * 4000, login_url="https://login.salesforce.com", run_as=None,
                      expires_at=EXPIRES)
    rendered = answers.render(long_link)
    assert rendered == full(long_link)
    assert json.loads(rendered)["text"].endswith("…")
