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

import logging
import re
import threading

MASK = "••••••••"
_MIN_LENGTH_FOR_SUFFIX = 20
_MIN_REGISTERED_LENGTH = 8

# Token shapes that must never be logged even if they were not wrapped in a Secret first:
# Salesforce access tokens (`00D…!…`), Slack tokens, bearer headers and OAuth form/JSON fields.
_TOKEN_PATTERNS = [
    re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+"),
    re.compile(r"\bxox[abpers]-[A-Za-z0-9\-]+"),
    re.compile(r"\bxapp-[A-Za-z0-9\-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=!\-]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|consumer_?secret|code_verifier|code|state|token|link)"
        r"[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9._~+/=!%\-]{8,}"
    ),
]


def mask(value: str | None) -> str:
    """The masked form of a secret: bullets, plus the last 4 characters only for values of 20+ characters."""
    if not value:
        return MASK
    if len(value) >= _MIN_LENGTH_FOR_SUFFIX:
        return MASK + value[-4:]
    return MASK


class _Registry:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) < _MIN_REGISTERED_LENGTH:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._pattern = None

    def discard(self, value: str) -> None:
        with self._lock:
            if value in self._values:
                self._values.discard(value)
                self._pattern = None

    def redact(self, text: str) -> str:
        pattern = self.compiled()
        if pattern is not None:
            text = pattern.sub(lambda match: mask(match.group(0)), text)
        for token_pattern in _TOKEN_PATTERNS:
            text = token_pattern.sub(_mask_match, text)
        return text

    def compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                alternatives = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(value) for value in alternatives))
            return self._pattern


def _mask_match(match: re.Match[str]) -> str:
    if match.lastindex:
        return match.group(1) + MASK
    return MASK


_registry = _Registry()


def contains_secret(text: str) -> bool:
    """True if `text` holds the value of any live `Secret` (exact match, no pattern guessing)."""
    pattern = _registry.compiled()
    return pattern is not None and pattern.search(text) is not None


def redact(text: str) -> str:
    """Replace every registered secret and every token-shaped string in `text` by its mask."""
    return _registry.redact(text)


class Secret:
    """A secret string whose printed forms are masked; `reveal()` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value
        _registry.add(value)

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


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts the whole output, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record at creation, so no handler (ours, pytest's, a library's) sees a secret."""
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
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        return record

    logging.setLogRecordFactory(redacting_factory)
    _factory_installed = True


def configure_logging(*, level: str = "INFO", stream: object = None) -> None:
    """Root logging for the CLI: one redacting stream handler."""
    install_log_redaction()
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
