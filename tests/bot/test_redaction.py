import logging

from bot.redaction import MASK, Secret, contains_secret, install_log_redaction, mask, redact


def test_mask_shows_at_most_the_last_four_characters_of_long_values():
    assert mask("A" * 30 + "wxyz") == MASK + "wxyz"
    assert mask("short-secret-123") == MASK
    assert mask(None) == MASK
    assert mask("") == MASK


def test_mask_length_does_not_depend_on_the_secret_length():
    assert len(mask("a" * 20)) == len(mask("b" * 200))


def test_secret_prints_masked_everywhere():
    secret = Secret("S" * 40 + "TAIL")
    assert "S" * 10 not in str(secret)
    assert "S" * 10 not in repr(secret)
    assert "S" * 10 not in f"{secret} and {secret!r}"
    assert secret.reveal().endswith("TAIL")


def test_registered_secrets_and_token_shapes_are_redacted():
    secret = Secret("registered-value-that-must-not-leak")
    text = (f"value={secret.reveal()} Bearer 00DAB0000000001!AQ4AQ.something "
            "xoxb-1234-5678-abcdef refresh_token=5Aep861abcdefghijkl")
    redacted = redact(text)
    assert secret.reveal() not in redacted
    assert "00DAB0000000001!AQ4AQ" not in redacted
    assert "xoxb-1234-5678-abcdef" not in redacted
    assert "5Aep861abcdefghijkl" not in redacted
    assert contains_secret(text)
    assert not contains_secret(redacted)


def test_log_records_are_redacted_at_creation(caplog):
    install_log_redaction()
    secret = Secret("another-secret-value-for-logging")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("some.library").debug("body: %s", {"secret": secret.reveal()})
    assert secret.reveal() not in caplog.text
    assert MASK in caplog.text


def test_forgotten_secret_is_no_longer_redacted():
    secret = Secret("temporary-secret-value-xyz")
    secret.forget()
    assert not contains_secret("temporary-secret-value-xyz")


def test_secrets_are_found_inside_json_urls_and_punctuation():
    secret = Secret("00DAB0000000001!AQ4AQ.LookLikeAnAccessToken")
    fernet_like = Secret("Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg=")
    for text in (f'{{"access_token": "{secret.reveal()}"}}', f"url?token={secret.reveal()}&x=1",
                 f"({secret.reveal()}).", f"keys={fernet_like.reveal()},other"):
        assert contains_secret(text), text
        assert secret.reveal() not in redact(text) and fernet_like.reveal() not in redact(text)


def test_the_registry_stays_bounded_but_keeps_pinned_secrets():
    from bot.redaction import _Registry

    registry = _Registry(capacity=10)
    registry.add("pinned-configuration-secret", pinned=True)
    for number in range(50):
        registry.add(f"one-time-secret-number-{number:04d}")
    assert registry.find("pinned-configuration-secret")
    assert registry.find("one-time-secret-number-0049")
    assert not registry.find("one-time-secret-number-0000")


def test_tracebacks_are_redacted_by_the_formatter():
    import io

    from bot.redaction import RedactingFormatter

    secret = Secret("secret-inside-an-exception-message")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    log = logging.getLogger("tests.traceback")
    log.addHandler(handler)
    try:
        raise RuntimeError(f"failed with {secret.reveal()}")
    except RuntimeError:
        log.exception("something broke")
    finally:
        log.removeHandler(handler)
    assert "something broke" in stream.getvalue() and "RuntimeError" in stream.getvalue()
    assert secret.reveal() not in stream.getvalue()


def test_control_characters_cannot_forge_a_log_line_in_any_library_logger():
    import io

    from bot.redaction import configure_logging

    stream = io.StringIO()
    root = logging.getLogger()
    previous = root.handlers[:], root.level
    try:
        configure_logging(level="INFO", stream=stream)
        for name in ("slack_bolt.App", "aiohttp.access", "bot.slack.refusals"):
            logging.getLogger(name).info("text=%s", "x\n2026-01-01 00:00:00 INFO bot: forged\r\x1b[2K\u2028end")
        try:
            raise ValueError("bad\n2026-01-01 00:00:00 INFO bot: forged in an exception")
        except ValueError:
            logging.getLogger("aiohttp.server").exception("Error handling request")
    finally:
        root.handlers[:], _ = previous
        root.setLevel(previous[1])
    lines = stream.getvalue().splitlines()
    records = [line for line in lines if not line.startswith(" ")]
    assert len(records) == 4, lines
    assert all(" forged" not in line.split(": ", 1)[0] for line in lines)
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert "x\\n2026-01-01 00:00:00 INFO bot: forged\\r\\x1b[2K\\u2028end" in records[0]
    assert "\x1b" not in stream.getvalue() and "\u2028" not in stream.getvalue()
    assert any("Traceback" in line for line in lines)


def test_escaped_control_characters_stay_readable():
    from bot.redaction import escape_controls

    assert escape_controls("tab\there\nnext\x00\x7f\x85") == "tab\\there\\nnext\\x00\\x7f\\x85"
    assert escape_controls("café — ünïcode ✅") == "café — ünïcode ✅"
