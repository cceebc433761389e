"""Progress notifications written straight onto a modern (2026-07-28) HTTP response stream.

``ctx.report_progress`` builds and validates three pydantic models and serializes them for every
event and every caller; with a thousand waiting calls that is most of the gateway's work per event.
On the modern Streamable HTTP path the SDK's dispatch context holds the response's SSE sink and
the request's progress token, so the same ``notifications/progress`` frame can be written directly,
with the event's JSON string encoded once per event for all callers. Any other transport or era
(stdio, in-memory, handshake-era sessions) keeps the SDK path.

The sink and token come from :func:`mcp_gateway.sdk.progress_stream` (the seam to the SDK's private
dispatch context); the end-to-end tests over HTTP exercise it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Awaitable, Callable

import anyio
from fastmcp import Context

from mcp_gateway import sdk

ProgressSender = Callable[[int, str, float], Awaitable[None]]
_METHOD = '"jsonrpc":"2.0","method":"notifications/progress"'


@functools.lru_cache(maxsize=256)
def progress_message(epoch: str, event_id: str, raw: str) -> str:
    """The message of an event's progress notification: its envelope JSON with the full cursor first.

    ``{"cursor":"<epoch>:<id>","v":1,"id":"<id>",...}``: the cursor resumes right after the event on
    any pod and shows an epoch change. Spliced once per event (every waiting call shares the result).
    """
    return f'{{"cursor":"{epoch}:{event_id}",{raw[1:]}'


@functools.lru_cache(maxsize=256)
def _frame_tail(message: str) -> bytes:
    """The end of every progress frame carrying ``message``: encoded once per event for all calls."""
    return f',"message":{json.dumps(message)}}}}}\r\n\r\n'.encode()


class ProgressFrames:
    """The SSE frames of one call's ``notifications/progress``, byte-identical to the SDK's.

    Per call only the progress token (encoded once, in the head) and the counter are spliced in; the
    message part of a frame is encoded once per event and shared by every call.
    """

    __slots__ = ("_head",)

    def __init__(self, token: str | int) -> None:
        head = f'event: message\r\ndata: {{{_METHOD},"params":{{"progressToken":{json.dumps(token)},"progress":'
        self._head = head.encode()

    def frame(self, progress: int, message: str) -> bytes:
        """The frame of progress number ``progress`` with ``message``."""
        return b"".join((self._head, repr(float(progress)).encode(), _frame_tail(message)))


def direct_progress(ctx: Context) -> ProgressSender | None:
    """A sender of progress ``(n, message, deadline)`` onto the call's SSE stream, or None for the SDK path."""
    stream = sdk.progress_stream(ctx)
    if stream is None:
        return None
    sink, token = stream
    frames = ProgressFrames(token)

    async def send(progress: int, message: str, deadline: float) -> None:
        frame = frames.frame(progress, message)
        # A closed stream means the caller is gone; the SDK's notify drops the message the same way.
        with contextlib.suppress(*sdk.CLOSED_STREAM):
            try:
                sink.send_nowait(frame)  # the response loop is usually waiting: hand it over at once
            except anyio.WouldBlock:
                async with asyncio.timeout_at(deadline):  # a caller that stopped reading
                    await sink.send(frame)

    return send
