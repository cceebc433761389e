"""cancel_and_wait: a task that loses one cancellation (as redis-py's wait_for can on 3.11) still ends."""

from __future__ import annotations

import asyncio
import time

from shared.tasks import cancel_and_wait


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            swallowed += 1  # what asyncio.wait_for does on 3.11 when its inner call completes at once
        await asyncio.sleep(30)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await cancel_and_wait(task, repeat_s=0.05)
    assert task.cancelled() and swallowed == 1
    assert time.monotonic() - started < 1


async def test_finished_and_failed_tasks_are_waited_for_and_their_errors_retrieved() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    done, failed = asyncio.create_task(asyncio.sleep(0)), asyncio.create_task(fails())
    await asyncio.sleep(0.01)
    await cancel_and_wait(done, failed)
    assert done.done() and failed.done()
