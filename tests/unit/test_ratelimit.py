"""The sliding-window limiter, driven by a fake clock."""

from __future__ import annotations

from ingestor.upstream.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_at_most_limit_sends_in_any_window() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(3, 10.0, clock)
    for _ in range(3):
        assert limiter.delay() == 0
        limiter.record()
    assert limiter.delay() == 10.0
    clock.now += 4
    assert limiter.delay() == 6.0
    clock.now += 6
    assert limiter.delay() == 0


def test_a_sliding_window_not_a_fixed_one() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, 10.0, clock)
    limiter.record()
    clock.now += 9
    limiter.record()
    clock.now += 2
    assert limiter.delay() == 0, "the first send left the window"
    limiter.record()
    assert limiter.delay() == 8.0


def test_reset_forgets_past_sends() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, Clock())
    limiter.record()
    limiter.reset()
    assert limiter.delay() == 0
