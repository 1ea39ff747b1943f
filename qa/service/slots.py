"""Caps on concurrent streamed answers, in total and per client, whatever surface streams them.

``MemorySlots`` counts in this process (one replica). ``RedisSlots`` counts across replicas: each
held slot is a member of two Redis sorted sets (all streams, this client's streams) scored by
its expiry time; the holder pushes the expiry forward while the stream runs, so the slots of a
replica that crashed expire within ``lease_s`` instead of being lost for good. When Redis is
unreachable it fails open to this process's caps (each replica still bounds its own streams).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from qa.storage.shared import Degraded, ErrorHook

Release = Callable[[], Awaitable[None]]


class StreamSlots(Protocol):
    total: int
    per_client: int

    @property
    def active(self) -> int:
        """Streams held by this process."""
        ...

    async def acquire(self, client: str) -> Release | None:
        """A release function (idempotent), or None when a limit is reached."""
        ...


class MemorySlots:
    """Caps concurrent streamed answers of this process, in total and per client."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.active = 0
        self._by_client: Counter[str] = Counter()

    def take(self, client: str) -> Callable[[], None] | None:
        """Synchronous acquire: event-loop only, no await in between, so no lock is needed."""
        if self.active >= self.total or self._by_client[client] >= self.per_client:
            return None
        self.active += 1
        self._by_client[client] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self.active -= 1
            self._by_client[client] -= 1
            if self._by_client[client] <= 0:
                del self._by_client[client]

        return release

    async def acquire(self, client: str) -> Release | None:
        release = self.take(client)
        if release is None:
            return None

        async def give_back() -> None:
            release()

        return give_back


# Drop expired members, then admit when both sets have room. TIME comes from Redis, so the
# replicas' clocks do not need to agree. KEYS: all, client. ARGV: member, total, per_client, lease_ms.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) or redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return 0
end
local expiry = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('ZADD', KEYS[2], expiry, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""
# Extend a held slot (only if it is still there). KEYS: all, client. ARGV: member, lease_ms.
_RENEW = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  if redis.call('ZSCORE', key, ARGV[1]) then
    redis.call('ZADD', key, 'XX', expiry, ARGV[1])
    redis.call('PEXPIRE', key, ARGV[2])
  end
end
return 1
"""


class RedisSlots:
    """Caps concurrent streamed answers across every replica sharing one Redis."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        total: int,
        per_client: int,
        lease_s: float = 30.0,
        on_error: ErrorHook | None = None,
    ) -> None:
        self.total = total
        self.per_client = per_client
        self._redis = redis
        self._prefix = f"{prefix}slots:"
        self._lease_ms = int(lease_s * 1000)
        self._local = MemorySlots(total, per_client)  # this process's share, and the fallback
        self._degraded = Degraded("slots", on_error)
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)

    @property
    def active(self) -> int:
        return self._local.active

    async def acquire(self, client: str) -> Release | None:
        local = self._local.take(client)
        if local is None:
            return None
        keys = [f"{self._prefix}all", f"{self._prefix}client:{client}"]
        member = uuid.uuid4().hex
        try:
            admitted = await self._acquire(
                keys=keys, args=[member, self.total, self.per_client, self._lease_ms]
            )
        except (RedisError, OSError) as exc:
            self._degraded.failed(exc)
            admitted, keys = 1, []  # fail open: this process's caps still hold
        else:
            self._degraded.recovered()
        if not admitted:
            local()
            return None
        renewer = asyncio.get_running_loop().create_task(self._keep(keys, member)) if keys else None
        released = False

        async def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            local()
            if renewer is not None:
                renewer.cancel()
                try:
                    await self._redis.zrem(keys[0], member)
                    await self._redis.zrem(keys[1], member)
                except (RedisError, OSError) as exc:
                    self._degraded.failed(exc)  # the lease runs out on its own

        return release

    async def _keep(self, keys: list[str], member: str) -> None:
        """Renew the lease at a third of its length while the stream runs."""
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            with contextlib.suppress(RedisError, OSError):
                await self._renew(keys=keys, args=[member, self._lease_ms])


def make_slots(
    redis: Redis | None, prefix: str, total: int, per_client: int, on_error: ErrorHook | None = None
) -> StreamSlots:
    """Redis-backed slots when a client is given, else this process's."""
    if redis is None:
        return MemorySlots(total, per_client)
    return RedisSlots(redis, prefix, total, per_client, on_error=on_error)
