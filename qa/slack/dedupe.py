"""Answer each signed Slack request once: replays within the signature window are acknowledged only.

Slack signs ``v0:{timestamp}:{body}`` and we accept a timestamp for five minutes, so a captured
request (a slash command, say) could be replayed within that window and answered again. Its
fingerprint (timestamp + signature + body) is remembered for longer than the window.

``Deduper`` is the small interface a shared store implements when several replicas serve Slack
(the scale-out deployment's Redis ``SET NX EX``); ``MemoryDeduper`` is the in-process default.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cachetools import TTLCache

# SignatureVerifier accepts timestamps up to 5 minutes old (either way): remember for both.
REPLAY_WINDOW_S = 10 * 60


class Deduper(Protocol):
    async def first_time(self, key: str) -> bool:
        """True the first time ``key`` is seen within the TTL (check-and-set, atomic)."""
        ...


class MemoryDeduper:
    """In-process ``Deduper``: a bounded TTL cache (one process only)."""

    def __init__(self, ttl_s: float = REPLAY_WINDOW_S, maxsize: int = 100_000) -> None:
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=maxsize, ttl=ttl_s)

    async def first_time(self, key: str) -> bool:
        # No await between the check and the set: atomic on the event loop.
        if key in self._seen:
            return False
        self._seen[key] = True
        return True


def request_fingerprint(timestamp: str, signature: str, body: bytes) -> str:
    """Identifies one signed request; a replay has the same one."""
    digest = hashlib.sha256()
    for part in (timestamp.encode(), signature.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return f"slack-request:{digest.hexdigest()}"
