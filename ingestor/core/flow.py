"""Backpressure of the publish queue: read, pause the readers when full, shed the oldest work when a pause
would last too long.

* ``reading``: the queue has room.
* ``paused``: the queue reached its capacity; the socket readers stop (TCP pushes back on the upstream)
  until the queue drains to half, or ``pause_max_ms`` passes.
* ``shedding``: the pause would have outlasted ``pause_max_ms`` (the upstream would buffer too much, or
  give up on us): the readers read again and every work item beyond the capacity pushes out the oldest
  one, until the queue drains to half.
"""

from __future__ import annotations

from typing import Literal

State = Literal["reading", "paused", "shedding"]


class Flow:
    """The state of the queue's backpressure; time in Unix ms, given by the caller."""

    def __init__(self, capacity: int, pause_max_ms: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.resume_at = capacity // 2
        self.pause_max_ms = pause_max_ms
        self.state: State = "reading"
        self.paused_since: int | None = None
        self.paused_ms = 0
        """Total time paused so far."""

    @property
    def reading(self) -> bool:
        """Whether the socket readers may read."""
        return self.state != "paused"

    @property
    def deadline_ms(self) -> int | None:
        """When :meth:`clock` must be called next (the end of the longest allowed pause)."""
        return None if self.paused_since is None else self.paused_since + self.pause_max_ms

    def filled(self, depth: int, now_ms: int) -> int:
        """The queue holds ``depth`` items after an append: how many of the oldest must go."""
        if depth >= self.capacity and self.state == "reading":
            self.state, self.paused_since = "paused", now_ms
        return max(0, depth - self.capacity)

    def drained(self, depth: int, now_ms: int) -> int | None:
        """The queue holds ``depth`` items after taking some; the pause length if a pause ends now."""
        if self.state == "reading" or depth > self.resume_at:
            return None
        was_paused, self.state = self.state == "paused", "reading"
        return self._end_pause(now_ms) if was_paused else None

    def clock(self, now_ms: int) -> int | None:
        """Time passes; the pause length when a pause ends in shedding."""
        deadline = self.deadline_ms
        if self.state != "paused" or deadline is None or now_ms < deadline:
            return None
        self.state = "shedding"
        return self._end_pause(now_ms)

    def _end_pause(self, now_ms: int) -> int:
        since, self.paused_since = self.paused_since, None
        paused = max(0, now_ms - (since if since is not None else now_ms))
        self.paused_ms += paused
        return paused
