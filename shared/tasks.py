"""Ending asyncio tasks for sure."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any], repeat_s: float = 0.1) -> None:
    """Cancel ``tasks`` and wait until every one has ended, cancelling again every ``repeat_s`` seconds.

    One ``cancel()`` can be lost on Python 3.11: ``asyncio.wait_for`` (redis-py sends every command
    through it) drops a cancellation that arrives in the same loop turn as its inner call completes, and
    the task carries on, e.g. into a 30 s wait. Their exceptions are retrieved (and dropped) here.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=repeat_s)
    for task in tasks:
        if not task.cancelled():
            task.exception()
