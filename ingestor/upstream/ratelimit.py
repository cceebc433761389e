"""A sliding-window limiter: never more than ``limit`` sends in any ``window_s`` seconds."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """Admits at most ``limit`` events in every sliding window of ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sent: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()

    def delay(self) -> float:
        """Seconds to wait before the next send is allowed (0 when allowed now)."""
        now = self._clock()
        self._trim(now)
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[0] + self.window_s - now

    def record(self) -> None:
        """Count one send made now."""
        self._sent.append(self._clock())

    async def wait(self) -> None:
        """Wait until a send is allowed (the caller counts it with :meth:`record`)."""
        while (wait := self.delay()) > 0:
            await asyncio.sleep(wait)

    async def acquire(self) -> None:
        """Wait until a send is allowed, then count it."""
        await self.wait()
        self.record()

    def reset(self) -> None:
        """Forget past sends (a new socket starts with a fresh window upstream)."""
        self._sent.clear()
