"""A token bucket per API key (requests) or per client address (failed authentications), in this process's memory.

Each replica limits on its own, so behind a load balancer of N replicas a key gets up to N times the rate; the
limit protects the CPU of each replica (face analysis costs tens of milliseconds), which is what it is for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

# Buckets kept before the full ones (whose owners are at rest) are dropped: addresses are many and cheap to forge.
MAX_BUCKETS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_minute`` requests a minute per key with bursts of ``burst``; ``per_minute = 0`` turns it off."""

    def __init__(self, per_minute: int, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until a token is free."""
        return self._take(key, 1.0)

    def wait_time(self, key: Hashable) -> float:
        """The seconds until ``key`` has a token (0.0: it has one now); takes nothing."""
        return self._take(key, 0.0)

    def _take(self, key: Hashable, amount: float) -> float:
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._drop_full(now)
                bucket = self._buckets[key] = _Bucket(tokens=self.burst, updated=now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= amount
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _drop_full(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
