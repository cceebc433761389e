"""A Python client helper for the stream tools: ``async for item in stream(client, "stream_blocks")``.

It calls the tool over and over with the cursor (and ``full=true``, so results carry whole events) and
yields each event the moment its progress notification arrives (and any the notifications missed, from
the result). Every item is an event envelope dict with its resumable ``cursor`` first
(``{"cursor": "<epoch>:<id>", "v": 1, "id": ...}``). Keep-alive progress (``{"keepalive": true, ...}``,
no ``id``) is skipped. An event the notifications missed comes from a result, where null fields are left out.

* **Gaps are items.** When events may have been missed (the result says ``gap``, or the cursors show the
  event sequence started over), the helper yields a gap notice of the ingestor's form, ``data = {"gap":
  {"reason", "from_ts_ms", "to_ts_ms"}}``, where ``from_ts_ms`` is the time of the last event it yielded
  before the gap (0 if none) and ``to_ts_ms`` that of the first event after it (or now). So any item whose
  ``data`` has a ``gap`` key is a gap, whether the ingestor or the helper saw it.
* **Never twice.** Events are told apart by (epoch, id), so none is yielded again, also across an epoch
  change.
* **Outages are ridden out.** Gateway restarts and transient errors are retried with backoff from the last
  event seen, so nothing inside the history window is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastmcp import Client
from fastmcp.exceptions import ToolError

log = logging.getLogger(__name__)

RETRYABLE_HINTS = ("retry", "busy", "call again", "unavailable")
EPOCH_CHANGED = "the event sequence started over (Redis restarted or lost its data), so events may be missing"
MISSED = "events were missed: the cursor was older than the history window, or the event sequence started over"

Item = dict[str, Any]


@dataclass
class _Call:
    """Bookkeeping of one tool call."""

    start_epoch: str | None
    ts_before: int
    seen: dict[tuple[int, int], str] = field(default_factory=dict)
    """(id, ts_ms) of the events yielded from progress, with their epoch."""
    first_ts: int | None = None
    gap_told: bool = False


class _Position:
    """Where the stream stands: the epoch and id of the last event yielded, and its time."""

    def __init__(self, cursor: str | None) -> None:
        self.epoch: str | None = None
        self.last_id = 0
        self.last_ts = 0
        if cursor:
            epoch, _, last = cursor.rpartition(":")
            self.epoch, self.last_id = epoch or None, int(last)

    def cursor(self) -> str | None:
        if not self.last_id and self.epoch is None:
            return None
        return f"{self.epoch}:{self.last_id}" if self.epoch else str(self.last_id)

    def take(self, event: Item, epoch: str | None, call: _Call) -> Iterator[Item]:
        """Yield ``event`` (of ``epoch``) unless already yielded; before it, a gap notice if the epoch changed."""
        event_id, ts = int(event["id"]), int(event.get("ts_ms", 0))
        epoch = epoch or self.epoch
        if epoch != self.epoch and self.epoch is not None:
            if not call.gap_told:
                call.gap_told = True
                yield gap_notice(event, EPOCH_CHANGED, self.last_ts, ts, f"{epoch}:{event_id - 1}")
            self.last_id = 0
        elif event_id <= self.last_id:
            return
        self.epoch, self.last_id, self.last_ts = epoch, event_id, ts
        call.seen[(event_id, ts)] = epoch or ""
        if call.first_ts is None:
            call.first_ts = ts
        yield {"cursor": f"{epoch}:{event_id}" if epoch else str(event_id), **event}

    def settle(self, cursor: str | None) -> None:
        """Continue from a result's cursor (it may lie past the last event yielded: filtered, other topics)."""
        result = _Position(cursor)
        if result.epoch is not None and result.epoch != self.epoch:
            self.epoch, self.last_id = result.epoch, result.last_id
        else:
            self.last_id = max(self.last_id, result.last_id)


def gap_notice(near: Item, reason: str, from_ts_ms: int, to_ts_ms: int, cursor: str) -> Item:
    """A gap notice envelope in the ingestor's form, resuming at ``cursor``."""
    return {
        "cursor": cursor,
        "v": 1,
        "id": cursor.rpartition(":")[2],
        "network": near.get("network"),
        "topic": near.get("topic"),
        "ts_ms": int(time.time() * 1000),
        "data": {"gap": {"reason": reason, "from_ts_ms": from_ts_ms, "to_ts_ms": to_ts_ms}},
    }


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
) -> AsyncIterator[Item]:
    """Yield the events of stream tool ``tool`` forever, and a gap notice wherever events may be missing.

    Extra keyword ``arguments`` go to every call (e.g. ``address=...`` for ``track_address``). Errors
    whose message suggests calling again (bus unreachable, busy) and every transport error (a gateway
    restarting, a dropped connection) are retried with backoff; other tool errors (bad parameters, a
    network not served) are raised.
    """
    position = _Position(cursor)
    delay = retry_delay_s
    session: _Session | None = None
    try:
        while True:
            call_arguments = {**arguments, "want": True, "full": True, "max_events": max_events, "timeout_s": timeout_s}
            if (current := position.cursor()) is not None:
                call_arguments["cursor"] = current
            try:
                if session is None:
                    session = await _open(client)
                async for item in _one_call(session.client, tool, call_arguments, position):
                    yield item
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
) -> AsyncIterator[Item]:
    pushed: asyncio.Queue[Item] = asyncio.Queue()
    call = _Call(start_epoch=position.epoch, ts_before=position.last_ts)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        with contextlib.suppress(ValueError, TypeError):
            event = json.loads(message or "")
            if isinstance(event, dict) and "id" in event and "data" in event:  # not a keep-alive
                pushed.put_nowait(event)

    running = asyncio.create_task(client.call_tool(tool, arguments, progress_handler=on_progress))
    try:
        while not running.done() or not pushed.empty():
            if pushed.empty():
                waiter = asyncio.create_task(pushed.get())
                try:
                    await asyncio.wait({waiter, running}, return_when=asyncio.FIRST_COMPLETED)
                except BaseException:  # cancelled (or closed) while waiting: leave no waiter pending
                    waiter.cancel()
                    raise
                if not waiter.done():
                    waiter.cancel()
                    continue
                event = waiter.result()
            else:
                event = pushed.get_nowait()
            for item in position.take(event, _epoch_of(event.pop("cursor", None)), call):
                yield item
        body = running.result().structured_content or {}
    finally:
        if not running.done():
            running.cancel()
            with contextlib.suppress(BaseException):
                await running
    for item in _from_result(body, position, call):
        yield item


def _from_result(body: dict[str, Any], position: _Position, call: _Call) -> Iterator[Item]:
    """The result's gap (if progress did not show it) and the events progress missed, then its cursor."""
    cursor = body.get("cursor") if isinstance(body.get("cursor"), str) else None
    result_epoch = _epoch_of(cursor)
    events = [event for event in body.get("events", []) if isinstance(event, dict) and "id" in event]
    unseen = [
        (event, epoch)
        for event, epoch in zip(events, _epochs(events, call, result_epoch), strict=True)
        if (int(event["id"]), int(event.get("ts_ms", 0))) not in call.seen
    ]
    if body.get("gap") and not call.gap_told:
        call.gap_told = True
        yield _result_gap(body, call, position, unseen, cursor or "")
    for event, epoch in unseen:
        yield from position.take(event, epoch, call)
    position.settle(cursor)


def _result_gap(
    body: Item, call: _Call, position: _Position, unseen: list[tuple[Item, str | None]], cursor: str
) -> Item:
    """The gap notice of a result: before the call's first event, or after its last one when the sequence
    started over during the call (the result's epoch is not the one of the events yielded); it resumes
    before the next event."""
    result_epoch = _epoch_of(cursor)
    if call.first_ts is not None and result_epoch is not None and result_epoch != position.epoch:
        later = [event for event, epoch in unseen if epoch == result_epoch]
        until_ms = int(later[0].get("ts_ms", 0)) if later else int(time.time() * 1000)
        resume = f"{result_epoch}:{int(later[0]['id']) - 1}" if later else cursor
        return gap_notice(body, MISSED, position.last_ts, until_ms, resume)
    if call.first_ts is not None:  # this call's first events were yielded already, from progress
        return gap_notice(body, MISSED, call.ts_before, call.first_ts, position.cursor() or cursor)
    if unseen:
        event, epoch = unseen[0]
        resume = f"{epoch}:{int(event['id']) - 1}" if epoch else str(int(event["id"]) - 1)
        return gap_notice(body, MISSED, call.ts_before, int(event.get("ts_ms", 0)), resume)
    return gap_notice(body, MISSED, call.ts_before, int(time.time() * 1000), cursor)


def _epochs(events: list[Item], call: _Call, result_epoch: str | None) -> list[str | None]:
    """The epoch of each result event: as seen in progress, else the result's; before a drop of ids (the
    sequence started over during the call) the epoch the call started in."""
    ids = [int(event["id"]) for event in events]
    drop = max((i for i in range(1, len(ids)) if ids[i] <= ids[i - 1]), default=0)
    epochs: list[str | None] = []
    for index, event in enumerate(events):
        seen = call.seen.get((ids[index], int(event.get("ts_ms", 0))))
        epochs.append(seen if seen is not None else call.start_epoch if index < drop else result_epoch)
    return epochs


def _epoch_of(cursor: Any) -> str | None:
    if not isinstance(cursor, str) or ":" not in cursor:
        return None
    return cursor.rpartition(":")[0] or None
