"""The progress notifications of one waiting call: its events, and keep-alives while it is quiet.

A call that has sent no progress for ``keepalive_interval_s`` (15 s by default) sends a keep-alive, so a
host that restarts its request timeout on progress (the TypeScript SDK's ``resetTimeoutOnProgress``) can
wait longer than that timeout. Its message is small and tells itself apart from an event::

    {"keepalive":true,"waited_s":15}

It has no ``id`` and no ``data`` (an event's message is its envelope JSON with ``cursor`` first), so
consumers skip it: the ``stream()`` helper does, and any consumer that reads events from progress must.
Keep-alives and events share one increasing progress number per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from shared.tasks import cancel_and_wait

ProgressSend = Callable[[int, str, float], Awaitable[None]]
"""Sends progress number ``n`` with ``message``, by ``deadline`` (``time.monotonic()``) or TimeoutError."""


def keepalive_message(waited_s: float) -> str:
    """The message of a keep-alive progress notification."""
    return json.dumps({"keepalive": True, "waited_s": round(waited_s)}, separators=(",", ":"))


def is_keepalive(message: str | None) -> bool:
    """Whether a progress message is a keep-alive (not an event)."""
    return bool(message) and message.startswith('{"keepalive":')  # type: ignore[union-attr]


class CallProgress:
    """Numbers and sends one call's progress notifications; keeps the call alive while it is quiet."""

    def __init__(self, send: ProgressSend, interval_s: float) -> None:
        self._send = send
        self._interval_s = interval_s
        self._count = 0
        self._started = self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def send(self, message: str, deadline: float) -> None:
        """Send ``message`` as the call's next progress notification."""
        async with self._lock:
            self._count += 1
            self._last = time.monotonic()
            await self._send(self._count, message, deadline)

    @contextlib.asynccontextmanager
    async def keeping_alive(self, deadline: float) -> AsyncIterator[None]:
        """While the block runs (until ``deadline`` at most), send a keep-alive after each quiet interval."""
        if self._interval_s <= 0:
            yield
            return
        ticker = asyncio.create_task(self._tick(deadline))
        try:
            yield
        finally:
            await cancel_and_wait(ticker)

    async def _tick(self, deadline: float) -> None:
        while True:
            now = time.monotonic()
            due = self._last + self._interval_s
            if due > now:
                await asyncio.sleep(due - now)
                continue
            if now >= deadline:
                return
            try:
                await self.send(keepalive_message(now - self._started), deadline)
            except Exception:  # the caller is gone or stopped reading: the call itself notices
                return
