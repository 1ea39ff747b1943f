"""Rate limits (``limits``, moving window): in Redis when ``QA_REDIS_URL`` is set, else in memory."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError as LimitsStorageError
from redis.asyncio import Redis

from qa.storage.shared import Degraded, ErrorHook


class RateLimiter:
    """Moving-window limits (``limits``), in Redis when ``QA_REDIS_URL`` is set, else in memory.

    Fails open to this process's memory when Redis is unreachable: limits then hold per replica
    (N replicas admit up to N times the rate) rather than refusing every caller.
    """

    def __init__(
        self, redis: Redis | None = None, prefix: str = "qa:", on_error: ErrorHook | None = None
    ) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
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
                retry = await self._hit(self._shared, items, identifiers)
            except (LimitsStorageError, OSError) as exc:
                self._degraded.failed(exc)
            else:
                self._degraded.recovered()
                return retry
        return await self._hit(self._local, items, identifiers)

    @staticmethod
    async def _hit(
        strategy: MovingWindowRateLimiter, items: list[RateLimitItem], identifiers: tuple[str, ...]
    ) -> int | None:
        for item in items:
            if not await strategy.hit(item, *identifiers):
                reset, _ = await strategy.get_window_stats(item, *identifiers)
                return max(1, math.ceil(reset - time.time()))
        return None
