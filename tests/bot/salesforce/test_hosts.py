import pytest

from bot.errors import LoginHostError
from bot.salesforce.hosts import HostPolicy

POLICY = HostPolicy.from_entries(["127.0.0.1:8443", "login.partner.example"])


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com/", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com/some/path?x=1", "https://acme.my.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com"),
        ("https://acme.lightning.force.com", "https://acme.lightning.force.com"),
        ("https://ACME.my.salesforce.com:443", "https://acme.my.salesforce.com"),
        ("http://127.0.0.1:8443", "http://127.0.0.1:8443"),
        ("https://login.partner.example", "https://login.partner.example"),
    ],
)
def test_salesforce_and_listed_hosts_are_accepted(url, origin):
    assert POLICY.require_salesforce_url(url, what="login URL") == origin


@pytest.mark.parametrize(
    "url",
    [
        "https://salesforce.com.evil.example",
        "https://evilsalesforce.com",
        "https://acme.my.salesforce.com.evil.example",
        "http://acme.my.salesforce.com",
        "https://acme.my.salesforce.com:8443",
        "https://user:pass@acme.my.salesforce.com",
        "https://127.0.0.1",
        "http://127.0.0.1:9999",
        "http://login.partner.example",
        "ftp://login.salesforce.com",
        "javascript:alert(1)",
        "https://acme_bad.my.salesforce.com",
        "https://[::1]:8443",
    ],
)
def test_other_hosts_are_refused(url):
    with pytest.raises(LoginHostError):
        POLICY.require_salesforce_url(url, what="instance URL")
    assert not POLICY.is_allowed(url)


def test_the_refusal_names_what_was_checked():
    with pytest.raises(LoginHostError, match="identity URL"):
        POLICY.require_salesforce_url("https://example.com", what="identity URL")
