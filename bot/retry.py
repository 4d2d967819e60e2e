"""Retry policy: the one value type behind every schedule of waits the bot keeps (Salesforce requests, the
provisioning journey, deploy polling, Slack Web API calls, the outbox's redelivery), and the bounded-time
loop the Salesforce layers share. Which layer retries which failure is written down in the README
("Retries").

Jitter is a parameter of every policy, never a hidden default: in production each delay is spread a little
so that clients that failed together do not all come back at the same instant; fast timings (tests, the
demo) set it to zero so that their waits are exactly as short as written.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Exponential delays: `initial` seconds before the first retry, times `factor` before each next one,
    never more than `maximum`.

    `jitter` spreads each delay by up to that fraction either way (0.2: anywhere from 80 % to 120 %); zero
    keeps the schedule exact. `deadline` bounds the total time, in seconds, that an operation retried under
    this policy may take; None leaves the bound to the caller (a number of retries, or none for the outbox,
    which never drops a message).
    """

    initial: float
    maximum: float
    jitter: float
    factor: float = 2.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter is a fraction from 0 up to (not including) 1, not {self.jitter}")
        if not 0 <= self.initial <= self.maximum or self.factor < 1:
            raise ValueError(f"not a backoff: initial={self.initial}, maximum={self.maximum}, factor={self.factor}")

    def nominal(self, retry: int) -> float:
        """The delay before retry number `retry` (0 is the first retry), before jitter."""
        try:
            return min(self.initial * self.factor ** retry, self.maximum)
        except OverflowError:  # the thousandth retry of a message Slack keeps refusing
            return self.maximum

    def delay(self, retry: int) -> float:
        """The delay before retry number `retry`, with this policy's jitter."""
        return self.spread(self.nominal(retry))

    def spread(self, seconds: float) -> float:
        """`seconds` moved by up to the jitter either way."""
        return seconds * random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else seconds

    def at_least(self, seconds: float) -> float:
        """`seconds` lengthened by up to the jitter, never shortened: for a wait the other side prescribed
        (Slack's `Retry-After`)."""
        return seconds * random.uniform(1, 1 + self.jitter) if self.jitter else seconds

    def start(self, *, clock: Callable[[], float] = time.monotonic) -> Attempts:
        """Begin one operation retried under this policy; its deadline counts from now."""
        return Attempts(self, clock=clock)


class Attempts:
    """One operation retried under a `Backoff`: `next_delay()` is how long to wait before trying again, or
    None when that wait would carry the operation past the policy's deadline (give up instead)."""

    def __init__(self, policy: Backoff, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._started = clock()
        self._retries = 0

    def next_delay(self) -> float | None:
        delay = self._policy.delay(self._retries)
        deadline = self._policy.deadline
        if deadline is not None and self._clock() - self._started + delay > deadline:
            return None
        self._retries += 1
        return delay
