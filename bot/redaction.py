"""Keeping secrets out of logs, exceptions and reprs (SPEC §6).

Three layers, because any one of them alone leaks eventually:
- `Secret` wraps every token, consumer secret and verifier the bot holds; its `str`/`repr` are masked,
  so an f-string or a traceback cannot print the value.
- Every `Secret` registers its value; `install_log_redaction` rewrites each log record (ours and the
  libraries', slack_sdk debug bodies included) replacing registered values and token-shaped strings.
- `mask` is the one masking rule: a fixed run of bullets and at most the last 4 characters, shown only
  for values long enough that 4 characters reveal little.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Literal, TextIO

MASK = "••••••••"
_MIN_LENGTH_FOR_SUFFIX = 20
_MIN_REGISTERED_LENGTH = 8

# Token shapes that must never be logged even if they were not wrapped in a Secret first: Salesforce access
# tokens (`00D…!…`), Slack tokens, bearer headers and OAuth form/JSON fields. One pattern, one pass per text;
# `keep` is the part before the value (a field name, "Bearer ") that stays readable.
_TOKEN_PATTERN = re.compile(
    r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+"
    r"|\bxox[abpers]-[A-Za-z0-9\-]+"
    r"|\bxapp-[A-Za-z0-9\-]+"
    r"|(?P<keep>(?i:bearer\s+"
    r"|(?:access_token|refresh_token|client_secret|consumer_?secret|code_verifier|code|state|token|link)"
    r"[\"']?\s*[=:]\s*[\"']?))[A-Za-z0-9._~+/=!%\-]{8,}"
)


def mask(value: str | None) -> str:
    """The masked form of a secret: bullets, plus the last 4 characters only for values of 20+ characters."""
    if not value:
        return MASK
    if len(value) >= _MIN_LENGTH_FOR_SUFFIX:
        return MASK + value[-4:]
    return MASK


class _Registry:
    """The values of live secrets, checked by exact lookup of each token-shaped run of a text.

    A set lookup per candidate keeps redaction linear in the text however many secrets exist (one
    alternation regex of every secret would be recompiled on each new secret and grow without bound).
    The set is bounded: the least recently created secrets are forgotten first, except pinned ones
    (configuration), so memory stays flat in the number of orgs and tokens seen.
    """

    def __init__(self, *, capacity: int = 20_000) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._pinned: set[str] = set()
        self._capacity = capacity
        self._lock = threading.Lock()

    def add(self, value: str, *, pinned: bool = False) -> None:
        if len(value) < _MIN_REGISTERED_LENGTH:
            return
        with self._lock:
            for form in _stored_forms(value):
                if pinned:
                    self._pinned.add(form)
                    continue
                self._values[form] = None
                self._values.move_to_end(form)
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)

    def discard(self, value: str) -> None:
        with self._lock:
            for form in _stored_forms(value):
                self._values.pop(form, None)
                self._pinned.discard(form)

    def find(self, text: str) -> list[tuple[int, int]]:
        """Spans of `text` that hold a registered secret."""
        spans = []
        for match in _CANDIDATE.finditer(text):
            run = match.group(0)
            for candidate in (run, run.rstrip(_TRAILING)):
                if candidate in self._values or candidate in self._pinned:
                    spans.append((match.start(), match.start() + len(candidate)))
                    break
        return spans

    def redact(self, text: str) -> str:
        spans = self.find(text)
        if spans:
            pieces, position = [], 0
            for begin, end in spans:
                pieces += [text[position:begin], mask(text[begin:end])]
                position = end
            text = "".join(pieces) + text[position:]
        return _TOKEN_PATTERN.sub(_mask_match, text)


# Runs of the characters tokens and keys are made of; `=`, `:`, quotes and spaces end a run, so
# `key=VALUE`, `"token": "VALUE"` and `VALUE,` all yield VALUE itself.
_CANDIDATE = re.compile(r"[A-Za-z0-9._~!\-]{8,}")
_TRAILING = "._~!-"


def _stored_forms(value: str) -> set[str]:
    # Base64 padding is not part of a candidate run, so the unpadded form is what a lookup finds.
    return {value, value.rstrip("=")} - {""}


def _mask_match(match: re.Match[str]) -> str:
    return (match.group("keep") or "") + MASK


_registry = _Registry()


def contains_secret(text: str) -> bool:
    """True if `text` holds the value of any live `Secret` (exact match, no pattern guessing)."""
    return bool(_registry.find(text))


def redact(text: str) -> str:
    """Replace every registered secret and every token-shaped string in `text` by its mask."""
    return _registry.redact(text)


class Secret:
    """A secret string whose printed forms are masked; `reveal()` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str, *, pinned: bool = False) -> None:
        """`pinned` secrets (configuration) are never forgotten by the bounded redaction registry."""
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value
        _registry.add(value, pinned=pinned)

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        return mask(self._value)

    def forget(self) -> None:
        """Stop redacting this value in logs (after it was revoked and deleted)."""
        _registry.discard(self._value)

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"Secret({self.masked()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


# Characters that could end a log line or rewrite the terminal: C0 and C1 controls, DEL, and Unicode's line
# and paragraph separators. Escaped, a newline in request content cannot start a forged log line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_CONTROLS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """`text` with every control character written as a visible escape (`\\n`, `\\x1b`, `\\u2028`)."""
    return _CONTROL.sub(_escape_control, text)


def _escape_control(match: re.Match[str]) -> str:
    character = match.group(0)
    code = ord(character)
    return _NAMED_CONTROLS.get(character) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


class RedactingFormatter(logging.Formatter):
    """Redacts tracebacks and stack traces (the record factory has already redacted and escaped every
    message), and indents their continuation lines: only a record's first line starts at the margin, so no
    text inside an exception can pass for a record of its own."""

    def format(self, record: logging.LogRecord) -> str:
        return "\n    ".join(escape_controls(line) for line in super().format(record).split("\n"))

    def formatException(self, ei: object) -> str:
        return redact(super().formatException(ei))  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


class JsonFormatter(RedactingFormatter):
    """One JSON object per line (`QC_LOG_FORMAT=json`): time (UTC), level, logger, message, and the exception or
    stack when there is one, each redacted like the text format. JSON escapes every control character, so a
    record stays one line whatever it carries."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": escape_controls(redact(record.getMessage())),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry)


_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record at creation, so no handler (ours, pytest's, a library's) sees a secret, and
    escape its control characters, so no message (a library's included) can write a line of its own."""
    global _factory_installed
    if _factory_installed:
        return
    previous_factory = logging.getLogRecordFactory()

    def redacting_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous_factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem to report, not ours
            return record
        redacted = escape_controls(redact(message))
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        return record

    logging.setLogRecordFactory(redacting_factory)
    _factory_installed = True


def configure_logging(*, level: str = "INFO", log_format: Literal["text", "json"] = "text",
                      stream: TextIO | None = None) -> None:
    """Root logging for the CLI: one redacting stream handler, writing text lines or JSON lines."""
    install_log_redaction()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
