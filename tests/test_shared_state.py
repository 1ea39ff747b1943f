"""What replicas share through Redis: rate limits, Slack retry de-duplication, stream slots.

Two instances of each component stand for two replicas on one real Redis; a closed port stands
for Redis being down (every concern then falls back to the replica's own state, and says so).
"""

from __future__ import annotations

import asyncio

import pytest
from limits import parse_many
from redis.asyncio import Redis

from qa.api.ratelimit import RateLimiter
from qa.config import Settings
from qa.service.slots import MemorySlots, RedisSlots
from qa.storage.shared import RedisDedupe, connect_redis
from tests.databases import REDIS_URL, closed_port, redis_unreachable, unique_prefix


@pytest.fixture
def shared() -> Settings:
    if reason := redis_unreachable():
        pytest.skip(reason)
    return Settings(redis_url=REDIS_URL, redis_key_prefix=unique_prefix())


@pytest.fixture
def down() -> Settings:
    return Settings(redis_url=f"redis://127.0.0.1:{closed_port()}/0", redis_key_prefix=unique_prefix())


def client(settings: Settings) -> Redis:
    redis = connect_redis(settings)
    assert redis is not None
    return redis


async def test_rate_limit_holds_across_replicas(shared: Settings) -> None:
    errors: list[str] = []
    redis_a, redis_b = client(shared), client(shared)
    first = RateLimiter(redis_a, shared.redis_key_prefix, errors.append)
    second = RateLimiter(redis_b, shared.redis_key_prefix, errors.append)
    limit = parse_many("3/minute")
    verdicts = [await (first if n % 2 else second).hit(limit, "ip:1.2.3.4") for n in range(4)]
    assert verdicts[:3] == [None, None, None]
    assert verdicts[3] is not None and verdicts[3] >= 1  # seconds to wait, for Retry-After
    assert await first.hit(limit, "ip:5.6.7.8") is None  # another caller has a budget of its own
    assert errors == []
    await redis_a.aclose()
    await redis_b.aclose()


async def test_rate_limit_fails_open_to_each_replicas_own_limit(down: Settings) -> None:
    errors: list[str] = []
    redis = client(down)
    first = RateLimiter(redis, down.redis_key_prefix, errors.append)
    second = RateLimiter(redis, down.redis_key_prefix, errors.append)
    limit = parse_many("2/minute")
    assert [await first.hit(limit, "k") for _ in range(2)] == [None, None]
    assert await first.hit(limit, "k") is not None  # still limited, per replica
    assert await second.hit(limit, "k") is None  # the other replica counts on its own
    assert errors and set(errors) == {"rate_limit"}
    await redis.aclose()


async def test_a_retry_to_another_replica_is_seen(shared: Settings) -> None:
    redis_a, redis_b = client(shared), client(shared)
    first = RedisDedupe(redis_a, shared.redis_key_prefix, ttl_s=60)
    second = RedisDedupe(redis_b, shared.redis_key_prefix, ttl_s=60)
    assert await first.first_time("event:Ev1") is True
    assert await second.first_time("event:Ev1") is False
    assert await second.first_time("event:Ev2") is True
    results = await asyncio.gather(*(d.first_time("event:Ev3") for d in (first, second) * 5))
    assert results.count(True) == 1  # check-and-set is atomic across replicas
    await redis_a.aclose()
    await redis_b.aclose()


async def test_dedupe_fails_open_but_still_remembers_locally(down: Settings) -> None:
    errors: list[str] = []
    redis = client(down)
    dedupe = RedisDedupe(redis, down.redis_key_prefix, ttl_s=60, on_error=errors.append)
    assert await dedupe.first_time("event:Ev1") is True  # answered rather than dropped
    assert await dedupe.first_time("event:Ev1") is False  # a retry to this replica is still caught
    assert errors == ["dedupe"]
    await redis.aclose()


async def test_stream_slots_are_shared_and_given_back(shared: Settings) -> None:
    redis_a, redis_b = client(shared), client(shared)
    first = RedisSlots(redis_a, shared.redis_key_prefix, total=3, per_client=2)
    second = RedisSlots(redis_b, shared.redis_key_prefix, total=3, per_client=2)
    a1 = await first.acquire("alice")
    a2 = await second.acquire("alice")
    assert a1 and a2 and await first.acquire("alice") is None  # per client, across replicas
    b1 = await second.acquire("bob")
    assert b1 and await first.acquire("carol") is None  # in total, across replicas
    assert (first.active, second.active) == (1, 2)
    await a1()
    await a1()  # releasing twice gives back one slot
    assert await first.acquire("carol") is not None
    assert await second.acquire("dave") is None
    await redis_a.aclose()
    await redis_b.aclose()


async def test_a_crashed_replicas_slots_come_back(shared: Settings) -> None:
    redis = client(shared)
    crashed = RedisSlots(redis, shared.redis_key_prefix, total=1, per_client=1, lease_s=1.0)
    assert await crashed.acquire("alice") is not None
    for task in asyncio.all_tasks():  # the process dies: nobody renews its lease any more
        if task.get_coro().__qualname__.startswith("RedisSlots._keep"):  # type: ignore[union-attr]
            task.cancel()
    survivor = RedisSlots(redis, shared.redis_key_prefix, total=1, per_client=1, lease_s=1.0)
    assert await survivor.acquire("bob") is None  # still held while the lease runs
    for _ in range(100):
        if (release := await survivor.acquire("bob")) is not None:
            break
        await asyncio.sleep(0.1)
    assert release is not None
    await release()
    await redis.aclose()


async def test_a_held_slot_outlives_its_lease_while_renewed(shared: Settings) -> None:
    redis = client(shared)
    holder = RedisSlots(redis, shared.redis_key_prefix, total=1, per_client=1, lease_s=0.6)
    other = RedisSlots(redis, shared.redis_key_prefix, total=1, per_client=1, lease_s=0.6)
    release = await holder.acquire("alice")
    assert release is not None
    await asyncio.sleep(1.5)  # several lease lengths: renewals keep it
    assert await other.acquire("bob") is None
    await release()
    assert await other.acquire("bob") is not None
    await redis.aclose()


async def test_slots_fail_open_to_this_replicas_caps(down: Settings) -> None:
    errors: list[str] = []
    redis = client(down)
    slots = RedisSlots(redis, down.redis_key_prefix, total=2, per_client=1, on_error=errors.append)
    first = await slots.acquire("alice")
    assert first is not None and await slots.acquire("alice") is None  # per-client cap, locally
    assert await slots.acquire("bob") is not None and await slots.acquire("carol") is None
    await first()
    assert slots.active == 1 and errors and set(errors) == {"slots"}
    await redis.aclose()


async def test_memory_slots_need_no_redis() -> None:
    slots = MemorySlots(total=1, per_client=1)
    release = await slots.acquire("alice")
    assert release is not None and await slots.acquire("bob") is None
    await release()
    assert slots.active == 0
