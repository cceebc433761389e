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
    """Numbers and sends one call's progress notifications; keeps the call alive while it is quiet.

    The keep-alive is a loop timer, re-armed after each send; a task runs only to send a keep-alive that
    is due (a waiting call costs no task of its own for it).
    """

    def __init__(self, send: ProgressSend, interval_s: float) -> None:
        self._send = send
        self._interval_s = interval_s
        self._count = 0
        self._started = self._last = time.monotonic()
        self._lock = asyncio.Lock()
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None

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
        self._deadline = deadline
        self._arm()
        try:
            yield
        finally:
            self._deadline = 0.0  # no more keep-alives
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._sending is not None:
                await cancel_and_wait(self._sending)

    def _arm(self) -> None:
        """Wake when the call will have been quiet for an interval (loop time is ``time.monotonic()``)."""
        self._timer = asyncio.get_running_loop().call_at(self._last + self._interval_s, self._due)

    def _due(self) -> None:
        now = time.monotonic()
        if now >= self._deadline:
            return
        if self._last + self._interval_s > now:  # progress went out meanwhile: wait from there
            self._arm()
            return
        self._sending = asyncio.get_running_loop().create_task(self._keepalive(now - self._started))

    async def _keepalive(self, waited_s: float) -> None:
        try:
            await self.send(keepalive_message(waited_s), self._deadline)
        except Exception:  # the caller is gone or stopped reading: the call itself notices
            return
        finally:
            self._sending = None
        if self._deadline:
            self._arm()
