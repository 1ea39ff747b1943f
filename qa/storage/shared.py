"""State that replicas must agree on, in Redis when ``QA_REDIS_URL`` is set, else in process.

What happens when Redis is unreachable is decided per concern (docs/deploy.md): every concern
falls back to the per-process behaviour a single server has always had, logs it and counts it
(``qa_redis_errors_total{concern}``) — answers keep flowing, and each replica still enforces its
own caps. This module holds the client factory and the Slack retry de-duplication; rate limits
live in ``qa.api.security`` and stream slots in ``qa.service.slots``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from qa.config import Settings

log = logging.getLogger("qa.shared")

ErrorHook = Callable[[str], None]  # called with the concern ("dedupe", "slots", "rate_limit")


def connect_redis(settings: Settings) -> Redis | None:
    """A client for ``QA_REDIS_URL`` (connections are opened lazily), or None when unset.

    Short timeouts: an unreachable Redis must cost a request milliseconds, not a hang.
    """
    if not settings.redis_url:
        return None
    timeout = settings.redis_timeout_s
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
        health_check_interval=30,
    )


class Degraded:
    """Logs the first failure of a concern and each recovery; counts every failure."""

    def __init__(self, concern: str, on_error: ErrorHook | None) -> None:
        self.concern = concern
        self._on_error = on_error
        self._failing = False

    def failed(self, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(self.concern)
        if not self._failing:
            self._failing = True
            log.warning("Redis unreachable for %s, using this process's state: %s", self.concern, exc)

    def recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("Redis reachable again for %s", self.concern)


class Dedupe(Protocol):
    async def first_time(self, key: str) -> bool:
        """True the first time ``key`` is seen within the retention period (check-and-set)."""
        ...


class MemoryDedupe:
    """Keys seen by this process (one replica)."""

    def __init__(self, ttl_s: float, maxsize: int = 50_000) -> None:
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=maxsize, ttl=ttl_s)

    def seen_here(self, key: str) -> bool:
        """Check-and-set without an await in between, so it is atomic on the event loop."""
        if key in self._seen:
            return True
        self._seen[key] = True
        return False

    async def first_time(self, key: str) -> bool:
        return not self.seen_here(key)


class RedisDedupe:
    """Keys seen by any replica: ``SET key 1 NX EX ttl`` is an atomic check-and-set.

    Fails open to this process's memory when Redis is unreachable: a retry that reaches the same
    replica is still skipped; one that reaches another may be answered twice, which beats
    answering nobody. Keys are always remembered locally too, so a retry arriving during an
    outage is caught by the replica that answered the original.
    """

    def __init__(self, redis: Redis, prefix: str, ttl_s: float, on_error: ErrorHook | None = None) -> None:
        self._redis = redis
        self._prefix = f"{prefix}dedupe:"
        self._ttl_ms = int(ttl_s * 1000)
        self._local = MemoryDedupe(ttl_s)
        self._degraded = Degraded("dedupe", on_error)

    async def first_time(self, key: str) -> bool:
        if self._local.seen_here(key):
            return False
        try:
            created = await self._redis.set(self._prefix + key, b"1", nx=True, px=self._ttl_ms)
        except (RedisError, OSError) as exc:
            self._degraded.failed(exc)
            return True
        self._degraded.recovered()
        return bool(created)


def make_dedupe(redis: Redis | None, settings: Settings, ttl_s: float, on_error: ErrorHook | None) -> Dedupe:
    """Redis-backed when a client is given, else this process's memory."""
    if redis is None:
        return MemoryDedupe(ttl_s)
    return RedisDedupe(redis, settings.redis_key_prefix, ttl_s, on_error)
