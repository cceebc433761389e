"""The response side of the fast path: one bounded frame buffer and one writer per call.

The call (a task) puts pre-encoded SSE frames into its :class:`FrameBuffer`; the request's ASGI
coroutine is the call's only writer (:func:`write_reply`). It answers exactly as the SDK's modern
entry does (``mcp/server/_streamable_http_modern.py``):

* a call that ends without a frame within the deferral window (:data:`~mcp_gateway.sdk.SSE_PING_INTERVAL_S`)
  gets ``application/json`` with status 200;
* otherwise the answer commits to ``text/event-stream`` (the SDK's headers) at the first frame or when the
  window ends, a ``: ping`` follows each quiet window, and the result is the last frame.

Frames waiting when the writer wakes go out in one write. A caller that stops reading fills the buffer:
the call's next frame then waits, until its deadline at most (as a progress send on the SDK path waits for
its unbuffered stream). A disconnect cancels the call, as the SDK's ``watch_disconnect`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from mcp_gateway import sdk

FRAME_LIMIT = 64
"""Frames one call may have waiting for its writer; a producer beyond it waits for room."""


class FrameBuffer:
    """One call's outgoing SSE frames, bounded; its writer takes every waiting frame at once."""

    __slots__ = ("_frames", "_limit", "_loop", "_ready", "_room", "closed")

    def __init__(self, limit: int = FRAME_LIMIT) -> None:
        self._frames: list[bytes] = []
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        self.closed = False

    async def put(self, frame: bytes, deadline: float) -> None:
        """Queue ``frame``; when the buffer is full, wait for room until ``deadline`` (TimeoutError).

        After :meth:`close` (the call ended or its caller left) the frame is dropped, as the SDK drops a
        notification on a closed stream. One producer at a time (a call's progress is serialized).
        """
        while len(self._frames) >= self._limit and not self.closed:
            room = self._room = self._loop.create_future()
            async with asyncio.timeout_at(deadline):
                await room
        if self.closed:
            return
        self._frames.append(frame)
        _wake(self._ready)

    def close(self) -> None:
        """No more frames: wake the writer (and a waiting producer)."""
        self.closed = True
        _wake(self._ready)
        _wake(self._room)

    async def take(self, timeout_s: float) -> list[bytes] | None:
        """Every waiting frame; ``[]`` when none came within ``timeout_s``; None once closed and drained."""
        if not self._frames:
            if self.closed:
                return None
            ready = self._ready = self._loop.create_future()
            timer = self._loop.call_later(timeout_s, _wake, ready)
            try:
                await ready
            finally:
                timer.cancel()
                self._ready = None
            if not self._frames:
                return None if self.closed else []
        frames, self._frames = self._frames, []
        _wake(self._room)
        return frames


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


async def write_reply(
    call: Callable[[], Awaitable[str]],
    buffer: FrameBuffer,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Run ``call`` (its frames go to ``buffer``; it returns the JSON of its reply) and answer the request."""
    task = asyncio.ensure_future(call())
    task.add_done_callback(lambda _: buffer.close())
    watcher = asyncio.ensure_future(receive())
    watcher.add_done_callback(lambda done: _on_receive(done, task))
    try:
        frames = await buffer.take(sdk.SSE_PING_INTERVAL_S)
        if frames is None:  # done within the deferral window without a frame: plain JSON
            if not task.cancelled():
                await Response(task.result(), media_type="application/json")(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": sdk.SSE_HEADERS})
        while frames is not None:
            await send({"type": "http.response.body", "body": b"".join(frames) or sdk.SSE_PING, "more_body": True})
            frames = await buffer.take(sdk.SSE_PING_INTERVAL_S)
        if not task.cancelled():
            await send({"type": "http.response.body", "body": sdk.sse_data_frame(task.result()), "more_body": False})
    except OSError:  # the connection broke while writing (uvicorn's ClientDisconnected): the caller is gone
        pass
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])


def _on_receive(done: asyncio.Future[Message], task: asyncio.Future[str]) -> None:
    """A disconnect (or a failing ``receive``) cancels the call."""
    if done.cancelled():
        return
    if done.exception() is not None or done.result().get("type") == "http.disconnect":
        task.cancel()
