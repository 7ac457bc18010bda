"""Client-side token buckets, one per (account, region), so a scan never uses more than
`--max-rps` of an account's KMS request quota in a region."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """A thread-safe token bucket: `rate` tokens per second, bursts up to `burst`."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # a small burst keeps any one-second window close to `rate`
        self.burst = burst if burst is not None else max(1.0, rate / 4)
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take one token (possibly going into debt); return how long to wait for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds waited."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


class RateLimits:
    """One bucket per (account, region), created on first use."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, account: str, region: str) -> TokenBucket | None:
        if self.rate is None:
            return None
        with self._lock:
            found = self._buckets.get((account, region))
            if found is None:
                found = TokenBucket(self.rate)
                self._buckets[(account, region)] = found
            return found
