"""Caps on concurrent streamed answers, in total and per client, whatever surface streams them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable


class StreamSlots:
    """Caps concurrent streamed answers, in total and per client."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.active = 0
        self._by_client: Counter[str] = Counter()

    def acquire(self, client: str) -> Callable[[], None] | None:
        """A release function, or None when the limit is reached. Event-loop only, so no lock."""
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
