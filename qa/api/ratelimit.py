"""Rate limits (moving window): in Redis when ``QA_REDIS_URL`` is set (``limits``), else in memory."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from cachetools import TTLCache
from limits import RateLimitItem
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError as LimitsStorageError
from redis.asyncio import Redis

from qa.storage.shared import Degraded, ErrorHook


class LocalMovingWindow:
    """This process's moving-window counters: per limit and caller, the times of the latest hits.

    The same rule as ``limits``' ``MovingWindowRateLimiter`` (admit when fewer than ``amount`` hits
    were admitted in the last window; refused hits do not count), without its memory storage's
    upkeep, which cost every request a thread hand-off: the async storage expires old entries
    with a task and a thread-pool call per request, the sync one starts a timer thread every
    10 ms (and ``Thread.start`` waits for it). Here a caller's hits are at most ``amount``
    timestamps in a ``deque``, and ``TTLCache`` forgets a caller one window after its last hit,
    on access: no threads, no tasks. Event-loop only (no awaits, so each hit is atomic).
    """

    def __init__(self, max_callers: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_callers = max_callers
        self._clock = clock
        self._by_window: dict[int, TTLCache[str, deque[float]]] = {}

    def hit(self, item: RateLimitItem, *identifiers: str) -> float | None:
        """Count one hit; None when admitted, else the seconds until one would be."""
        window = item.get_expiry()
        callers = self._by_window.get(window)
        if callers is None:
            callers = self._by_window[window] = TTLCache(self._max_callers, ttl=window, timer=self._clock)
        key = item.key_for(*identifiers)
        now = self._clock()
        hits = callers.get(key)
        if hits is None:
            hits = deque(maxlen=item.amount)
        elif len(hits) == item.amount and now - hits[0] < window:
            return hits[0] + window - now
        hits.append(now)  # at ``amount`` hits the oldest, now outside the window, drops out
        callers[key] = hits  # (re)set: kept for a window after this hit
        return None


class RateLimiter:
    """Moving-window limits (``limits``), in Redis when ``QA_REDIS_URL`` is set, else in memory.

    Fails open to this process's memory when Redis is unreachable: limits then hold per replica
    (N replicas admit up to N times the rate) rather than refusing every caller.
    """

    def __init__(
        self, redis: Redis | None = None, prefix: str = "qa:", on_error: ErrorHook | None = None
    ) -> None:
        self._local = LocalMovingWindow()
        self._shared: MovingWindowRateLimiter | None = None
        if redis is not None:
            # The runtime's connection pool: one set of connections and timeouts, closed with it.
            storage: Storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=f"{prefix}limits",
                wrap_exceptions=True,
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # passed through to redis-py
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._degraded = Degraded("rate_limit", on_error)

    async def hit(self, items: list[RateLimitItem], *identifiers: str) -> int | None:
        """Count one request; seconds until the caller may retry when over a limit, else None."""
        if self._shared is not None:
            try:
                retry = await self._hit_shared(self._shared, items, identifiers)
            except (LimitsStorageError, OSError) as exc:
                self._degraded.failed(exc)
            else:
                self._degraded.recovered()
                return retry
        return self._hit_local(items, identifiers)

    @staticmethod
    async def _hit_shared(
        strategy: MovingWindowRateLimiter, items: list[RateLimitItem], identifiers: tuple[str, ...]
    ) -> int | None:
        for item in items:
            if not await strategy.hit(item, *identifiers):
                reset, _ = await strategy.get_window_stats(item, *identifiers)
                return _retry_after(reset)
        return None

    def _hit_local(self, items: list[RateLimitItem], identifiers: tuple[str, ...]) -> int | None:
        for item in items:
            if (wait := self._local.hit(item, *identifiers)) is not None:
                return max(1, math.ceil(wait))
        return None


def _retry_after(reset: float) -> int:
    return max(1, math.ceil(reset - time.time()))
