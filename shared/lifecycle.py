"""Running a long-lived coroutine until SIGTERM or SIGINT, on uvloop where it is available."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
from collections.abc import Awaitable, Callable

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
    uvloop = None  # type: ignore[assignment]


def trim_heap() -> None:
    """Give the heap's free pages back to the OS (glibc ``malloc_trim``); a no-op elsewhere.

    Imports and startup leave megabytes of freed but still mapped memory; a long-lived process at
    rest should not carry them in its RSS.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run :func:`until_signal` on a fresh event loop (uvloop when installed); return the exit code."""
    loop_factory = uvloop.new_event_loop if uvloop is not None else None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(until_signal(main))


async def until_signal(main: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run ``main(stop)``; SIGTERM or SIGINT sets ``stop``. A second signal cancels ``main`` outright."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main(stop))

    def on_signal() -> None:
        if stop.is_set():
            task.cancel()
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        return await task
    except asyncio.CancelledError:
        return 130
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
