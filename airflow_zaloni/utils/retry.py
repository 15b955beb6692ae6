"""Retry with exponential backoff inside a time budget, for blocking and for async callers.

One home for the "try again, a little later each time, but give up after N seconds" rule that every client of a
flaky remote service needs (a ResourceManager failing over, a Spark master restarting, an FTP server dropping the
line). The policy is a small frozen value object so it can travel in a trigger's serialized kwargs.

Usage::

    policy = RetryPolicy(budget=60)
    status = retry_call(lambda: client.get(url), policy, retry_on=(ConnectionError,), what="GET /status")
    status = await retry_async(lambda: session.get(url), policy, retry_on=(OSError,), what="GET /status")
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class RetryError(Exception):
    """Raised when a call still fails once the retry budget is spent; ``__cause__`` is the last failure."""

    def __init__(self, what: str, attempts: int, elapsed: float, last: BaseException) -> None:
        super().__init__(f"{what} failed {attempts} time(s) over {elapsed:.1f}s, giving up: {last}")
        self.what = what
        self.attempts = attempts
        self.elapsed = elapsed
        self.last = last


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry.

    :param budget: seconds from the first attempt after which no new attempt starts (0: a single attempt).
    :param initial: first delay in seconds.
    :param factor: each delay is the previous one times this.
    :param maximum: no delay is longer than this.
    :param jitter: each delay is shortened by up to this fraction at random, so that many clients that failed
        together do not all come back in the same instant.
    :param max_attempts: optional cap on the number of attempts, whatever the budget.
    """

    budget: float = 60.0
    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 15.0
    jitter: float = 0.2
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.budget < 0 or self.initial < 0 or self.maximum < 0:
            raise ValueError(f"RetryPolicy durations must not be negative: {self}")
        if self.factor < 1:
            raise ValueError(f"RetryPolicy.factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"RetryPolicy.jitter must be in [0, 1), got {self.jitter}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")

    def delays(self) -> Iterator[float]:
        """Yield the successive delays (endless; the budget decides when to stop)."""
        delay = self.initial
        while True:
            yield delay * (1 - self.jitter * random.random())
            delay = min(delay * self.factor, self.maximum)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, e.g. for a trigger's ``serialize()``."""
        return asdict(self)

    @classmethod
    def from_value(cls, value: RetryPolicy | dict[str, Any] | float | None) -> RetryPolicy:
        """Accept a policy, its dict form, a bare budget in seconds, or None (the default policy)."""
        if value is None:
            return cls()
        if isinstance(value, RetryPolicy):
            return value
        if isinstance(value, dict):
            return cls(**value)
        return cls(budget=float(value))


class _Attempts:
    """Bookkeeping shared by the sync and async loops: decides whether and how long to wait next."""

    def __init__(self, policy: RetryPolicy, what: str, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.what = what
        self.clock = clock
        self.start = clock()
        self.count = 0
        self._delays = policy.delays()

    def next_delay(self, error: BaseException) -> float:
        """Return the delay before the next attempt, or raise :class:`RetryError` if the budget is spent."""
        self.count += 1
        elapsed = self.clock() - self.start
        remaining = self.policy.budget - elapsed
        out_of_attempts = self.policy.max_attempts is not None and self.count >= self.policy.max_attempts
        if remaining <= 0 or out_of_attempts:
            raise RetryError(self.what, self.count, elapsed, error) from error
        delay = min(next(self._delays), remaining)
        log.warning(
            "%s failed (attempt %d, %.1fs of %.0fs budget used): %s; retrying in %.1fs",
            self.what,
            self.count,
            elapsed,
            self.policy.budget,
            error,
            delay,
        )
        return delay


def retry_call(
    fn: Callable[[], T],
    policy: RetryPolicy | None = None,
    *,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fn()`` until it returns, retrying failures listed in ``retry_on`` within ``policy``.

    Exceptions not in ``retry_on`` propagate at once. When the budget is spent, :class:`RetryError` is raised
    with the last failure as its cause.
    """
    attempts = _Attempts(policy or RetryPolicy(), what, clock)
    while True:
        try:
            return fn()
        except retry_on as error:
            sleep(attempts.next_delay(error))


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy | None = None,
    *,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    what: str = "call",
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Async twin of :func:`retry_call`: awaits ``fn()`` and sleeps with ``asyncio.sleep`` between attempts."""
    attempts = _Attempts(policy or RetryPolicy(), what, clock)
    while True:
        try:
            return await fn()
        except retry_on as error:
            await asyncio.sleep(attempts.next_delay(error))
