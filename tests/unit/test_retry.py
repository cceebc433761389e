"""The project's retry policy (shared/retry.py): what it retries, how long it waits, what it logs, how it stops."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from shared.errors import BusError, BusOutOfMemory, BusUnavailable, Fenced
from shared.retry import retrying

log = logging.getLogger("tests.retry")


class Flaky:
    """Fails with the given errors in turn, then answers ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def run(flaky: Flaky, **options: object) -> str | None:
    result = None
    async for attempt in retrying("the operation", logger=log, **options):  # type: ignore[arg-type]
        with attempt:
            result = await flaky()
    return result


async def test_retries_the_given_errors_until_it_works_and_logs_each_retry_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = Flaky(BusUnavailable("down"), BusOutOfMemory("Redis is out of memory"), BusError("odd reply"))
    with caplog.at_level(logging.INFO, logger="tests.retry"):
        assert await run(flaky, on=BusError, first_s=0.001, max_s=0.01) == "ok"
    assert flaky.calls == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(";")[0] for r in warnings] == [
        "the operation failed (down)",
        "the operation failed (Redis is out of memory)",
        "the operation failed (odd reply)",
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "the operation succeeded after 4 attempts"
    ]


async def test_waits_double_from_first_to_max_with_jitter_below_each_step(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(*(BusUnavailable(str(n)) for n in range(7)))
    with caplog.at_level(logging.WARNING, logger="tests.retry"):
        await run(flaky, on=BusError, first_s=0.002, max_s=0.016)
    delays = [r.__dict__["delay_s"] for r in caplog.records]
    ceilings = [0.002, 0.004, 0.008, 0.016, 0.016, 0.016, 0.016]
    assert len(delays) == len(ceilings)
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 - 0.001 <= delay <= ceiling + 0.001


async def test_other_errors_and_the_excluded_ones_propagate_at_once() -> None:
    flaky = Flaky(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await run(flaky, on=BusError, max_s=0.01)
    assert flaky.calls == 1
    fenced = Flaky(Fenced("another replica leads"))
    with pytest.raises(Fenced):
        await run(fenced, on=BusError, unless=Fenced, max_s=0.01)
    assert fenced.calls == 1


async def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    flaky = Flaky(*(BusUnavailable(f"try {n}") for n in range(5)))
    with pytest.raises(BusUnavailable, match="try 2"):
        await run(flaky, on=BusError, first_s=0.001, max_s=0.001, attempts=3)
    assert flaky.calls == 3


async def test_on_retry_sees_every_error_before_its_wait() -> None:
    seen: list[str] = []
    await run(Flaky(BusUnavailable("a"), BusOutOfMemory("b")), on=BusError, max_s=0.001, on_retry=seen.append)
    assert [str(error) for error in seen] == ["a", "b"]


async def test_a_stop_event_cuts_a_wait_short_and_ends_without_another_attempt() -> None:
    stop = asyncio.Event()
    flaky = Flaky(*(BusUnavailable("down") for _ in range(10)))
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    assert await run(flaky, on=BusError, first_s=10, max_s=10, stop=stop) is None
    assert time.monotonic() - started < 1
    assert flaky.calls == 1


async def test_a_stop_event_already_set_makes_no_attempt_and_one_set_during_an_attempt_makes_no_other() -> None:
    stop = asyncio.Event()
    stop.set()
    flaky = Flaky()
    assert await run(flaky, on=BusError, max_s=1, stop=stop) is None
    assert flaky.calls == 0

    stop.clear()

    async def fails_and_stops() -> str:
        stop.set()
        raise BusUnavailable("down")

    async for attempt in retrying("stop inside", on=BusError, max_s=1, stop=stop):
        with attempt:
            await fails_and_stops()
    assert stop.is_set()


async def test_cancellation_is_never_retried() -> None:
    calls = 0

    async def slow() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(10)

    async def loop() -> None:
        async for attempt in retrying("slow", on=BaseException, max_s=0.001):
            with attempt:
                await slow()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


def test_waits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        retrying("x", on=BusError, max_s=0)
