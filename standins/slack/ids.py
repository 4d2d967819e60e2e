"""Identifiers, tokens and timestamps shaped like Slack's."""

from __future__ import annotations

import secrets
import string
from collections import defaultdict
from collections.abc import Container

_ALNUM = string.ascii_letters + string.digits


def random_alnum(length: int) -> str:
    """Random letters and digits from a CSPRNG."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


class IdFactory:
    """Hands out unique, deterministic-looking ids and strictly increasing message timestamps."""

    def __init__(self) -> None:
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._last_ts_micros = 0

    def next_id(self, prefix: str, *, taken: Container[str] = (), width: int = 9) -> str:
        """``prefix`` + a zero-padded counter (e.g. ``U000000001``), skipping ids in ``taken``."""
        while True:
            self._counters[prefix] += 1
            candidate = f"{prefix}{self._counters[prefix]:0{width}d}"
            if candidate not in taken:
                return candidate

    def counter(self, name: str) -> int:
        """A plain per-name counter starting at 1."""
        self._counters[name] += 1
        return self._counters[name]

    def next_ts(self, now: float) -> str:
        """A message ``ts`` like ``1700000000.000100``: epoch seconds, six digits, unique, increasing."""
        micros = max(int(now * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def bot_token(self, team_number: int) -> str:
        return f"xoxb-{team_number:011d}-{self.counter('xoxb'):013d}-{random_alnum(24)}"

    def user_token(self, team_number: int) -> str:
        return f"xoxp-{team_number:011d}-{self.counter('xoxp'):013d}-{random_alnum(32)}"

    def app_token(self, app_id: str) -> str:
        return f"xapp-1-{app_id}-{self.counter('xapp'):013d}-{secrets.token_hex(32)}"

    def trigger_id(self, now: float) -> str:
        return (
            f"{int(now)}{self.counter('trigger'):04d}.{secrets.randbelow(10**9):09d}.{secrets.token_hex(16)}"
        )

    def short_block_id(self) -> str:
        """Slack fills in missing ``block_id``/``action_id`` values with short random strings."""
        return random_alnum(5)
