"""A Python client helper for the stream tools: ``async for event in stream(client, "stream_blocks")``.

It calls the tool over and over with the cursor, yields each event the moment its progress
notification arrives (and any the notifications missed, from the result), never yields an event twice,
and rides out gateway restarts and transient outages by retrying with backoff from the last event
seen, so nothing inside the history window is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

from fastmcp import Client
from fastmcp.exceptions import ToolError

log = logging.getLogger(__name__)

RETRYABLE_HINTS = ("retry", "busy", "unavailable")


class _Position:
    def __init__(self, cursor: str | None) -> None:
        self.epoch: str | None = None
        self.last_id = 0
        if cursor:
            epoch, _, last = cursor.rpartition(":")
            self.epoch, self.last_id = epoch or None, int(last)

    def cursor(self) -> str | None:
        if not self.last_id and self.epoch is None:
            return None
        return f"{self.epoch}:{self.last_id}" if self.epoch else str(self.last_id)

    def take(self, event: dict[str, Any]) -> bool:
        event_id = int(event["id"])
        if event_id <= self.last_id:
            return False
        self.last_id = event_id
        return True


async def stream(
    client: Client[Any],
    tool: str,
    *,
    cursor: str | None = None,
    max_events: int = 50,
    timeout_s: float = 60.0,
    retry_delay_s: float = 0.5,
    max_retry_delay_s: float = 30.0,
    **arguments: Any,
) -> AsyncIterator[dict[str, Any]]:
    """Yield the events of stream tool ``tool`` forever (each an envelope dict), resuming with the cursor.

    Extra keyword ``arguments`` go to every call (e.g. ``address=...`` for ``track_address``). Errors
    whose message suggests retrying (upstream unavailable, busy) and every transport error (a gateway
    restarting, a dropped connection) are retried with backoff; other tool errors (bad parameters)
    are raised.
    """
    position = _Position(cursor)
    delay = retry_delay_s
    session: _Session | None = None
    try:
        while True:
            call_arguments = {**arguments, "want": True, "max_events": max_events, "timeout_s": timeout_s}
            if (current := position.cursor()) is not None:
                call_arguments["cursor"] = current
            try:
                if session is None:
                    session = await _open(client)
                async for event in _one_call(session.client, tool, call_arguments, position):
                    yield event
                delay = retry_delay_s
                continue
            except ToolError as exc:
                if not any(hint in str(exc).lower() for hint in RETRYABLE_HINTS):
                    raise
                log.info("%s: %s; retrying in %.1f s", tool, exc, delay)
            except Exception as exc:  # transports raise many types (httpx, httpx2, MCPError)
                log.warning(
                    "%s: connection problem (%s: %s); reconnecting in %.1f s", tool, type(exc).__name__, exc, delay
                )
                await _close(session)
                session = None
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, max_retry_delay_s)
    finally:
        await _close(session)


class _Session:
    """A connection of our own (same configuration as the caller's client), so a dead one can be replaced."""

    def __init__(self, client: Client[Any]) -> None:
        self.client = client.new()
        self._stack = contextlib.AsyncExitStack()

    async def open(self) -> Client[Any]:
        return await self._stack.enter_async_context(self.client)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._stack.aclose()


async def _open(client: Client[Any]) -> _Session:
    session = _Session(client)
    await session.open()
    return session


async def _close(session: _Session | None) -> None:
    if session is not None:
        await session.close()


async def _one_call(
    client: Client[Any], tool: str, arguments: dict[str, Any], position: _Position
) -> AsyncIterator[dict[str, Any]]:
    pushed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        with contextlib.suppress(ValueError, TypeError):
            event = json.loads(message or "")
            if isinstance(event, dict) and "id" in event:
                pushed.put_nowait(event)

    call = asyncio.create_task(client.call_tool(tool, arguments, progress_handler=on_progress))
    try:
        while not call.done() or not pushed.empty():
            if pushed.empty():
                waiter = asyncio.create_task(pushed.get())
                await asyncio.wait({waiter, call}, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done():
                    waiter.cancel()
                    continue
                event = waiter.result()
            else:
                event = pushed.get_nowait()
            if position.take(event):
                yield event
        body = call.result().structured_content or {}
    finally:
        if not call.done():
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
    result_position = _Position(body.get("cursor") if isinstance(body.get("cursor"), str) else None)
    if position.epoch is not None and result_position.epoch not in (None, position.epoch):
        position.last_id = 0
    position.epoch = result_position.epoch or position.epoch
    for event in body.get("events", []):
        if position.take(event):
            yield event
    position.last_id = max(position.last_id, result_position.last_id)
