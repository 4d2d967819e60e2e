import pytest

from bot.errors import CommandSyntaxError
from bot.slack.commands import Check, ConnectOrg, DisconnectOrg, Help, RevokeTokens, RotateSecret, Status, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("help", Help()),
        ("connect-org", ConnectOrg("production", None)),
        ("CONNECT-ORG sandbox", ConnectOrg("sandbox", None)),
        ("connect-org https://acme.my.salesforce.com", ConnectOrg("https://acme.my.salesforce.com", None)),
        ("connect-org <https://acme.my.salesforce.com|acme.my.salesforce.com>",
         ConnectOrg("https://acme.my.salesforce.com", None)),
        ("connect-org run-as=int@acme.com", ConnectOrg("production", "int@acme.com")),
        ("connect-org sandbox run-as=<mailto:int@acme.com.uat|int@acme.com.uat>",
         ConnectOrg("sandbox", "int@acme.com.uat")),
        ("status", Status()),
        ("disconnect-org 00D000000000001AAA", DisconnectOrg("00D000000000001AAA", delete_app=False)),
        ("disconnect-org Acme Corp delete-app", DisconnectOrg("Acme Corp", delete_app=True)),
        ('disconnect-org "Acme Corp"', DisconnectOrg("Acme Corp", delete_app=False)),
        ("check", Check(None)),
        ("CHECK Acme Corp", Check("Acme Corp")),
        ("check “Acme Corp”", Check("Acme Corp")),
        ("check 00D000000000001AAA", Check("00D000000000001AAA")),
        ("rotate-secret Acme Corp", RotateSecret("Acme Corp", incident=False)),
        ("rotate-secret 00D000000000001AAA incident", RotateSecret("00D000000000001AAA", incident=True)),
        ("revoke-tokens Acme Corp", RevokeTokens("Acme Corp", username=None)),
        ("revoke-tokens Acme Corp <mailto:ann@acme.com|ann@acme.com>", RevokeTokens("Acme Corp", "ann@acme.com")),
    ],
)
def test_valid_commands(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("disconnect-everything", "don't know the command"),
        ("connect-org production sandbox", "one org target"),
        ("connect-org run-as=bob", "not a Salesforce username"),
        ("connect-org run-as=a@b.com run-as=c@d.com", "given twice"),
        ("connect-org colour=blue", "only `run-as=`"),
        ("status everything", "takes no arguments"),
        ("disconnect-org", "Name the org to disconnect"),
        ("disconnect-org delete-app", "Name the org to disconnect"),
        ("rotate-secret incident", "Name the org"),
        ("revoke-tokens", "Name the org"),
        ("revoke-tokens Acme ad\u202enimda@x.example", "The username holds invisible or text-direction characters"),
    ],
)
def test_malformed_commands_get_a_clear_message(text, fragment):
    with pytest.raises(CommandSyntaxError, match=fragment):
        parse(text)
