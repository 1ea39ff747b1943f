"""Answer each signed Slack request once: replays within the signature window are acknowledged only.

Slack signs ``v0:{timestamp}:{body}`` and we accept a timestamp for five minutes, so a captured
request (a slash command, say) could be replayed within that window and answered again. Its
fingerprint (timestamp + signature + body) is remembered for longer than the window.

``Deduper`` is the small interface a shared store implements when several replicas serve Slack
(Redis ``SET NX PX`` with ``QA_REDIS_URL``); ``MemoryDeduper`` is the in-process default.
"""

from __future__ import annotations

import hashlib

from qa.storage.shared import Dedupe, MemoryDedupe

# SignatureVerifier accepts timestamps up to 5 minutes old (either way): remember for both.
REPLAY_WINDOW_S = 10 * 60


# One interface and its implementations for every "answer once" concern (qa.storage.shared):
# in this process by default, in Redis (SET NX PX) when QA_REDIS_URL is set.
Deduper = Dedupe
MemoryDeduper = MemoryDedupe


def request_fingerprint(timestamp: str, signature: str, body: bytes) -> str:
    """Identifies one signed request; a replay has the same one."""
    digest = hashlib.sha256()
    for part in (timestamp.encode(), signature.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return f"slack-request:{digest.hexdigest()}"
