"""Login throttling: repeated failures for an account or from an address get 429 for a while.

Kept in the API process's memory: with several API processes, each counts on its own, which
still bounds guessing to a small multiple of the limit.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque


class LoginThrottle:
    """Keys are `kind:value`; each kind has its own limit (one address serves many people)."""

    def __init__(self, limits: dict[str, int] | None = None, window_seconds: float = 300.0) -> None:
        self.limits = limits or {"user": 5, "ip": 50}
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, *keys: str) -> int:
        """Seconds to wait before another attempt is heard; 0 when it may go ahead."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            recent = self._recent(key, now)
            if len(recent) >= self.limits[key.split(":", 1)[0]]:
                wait = max(wait, recent[0] + self.window - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        recent = self._failures[key]
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        return recent
