"""One WebSocket connection on the server side: ordered sends, closes, and silence."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from simulator.protocol import CloseReason, ConnectionState
from simulator.stats import ConnectionStats

MAX_BUFFERED_BYTES = 10_000_000
"""A connection with more unsent bytes than this is dropped (slow consumer), like the backend."""
_PONG_HEADER = b"\x8a"


def silenceable_connection(is_silent: Callable[[], bool]) -> type[ServerConnection]:
    """A connection class that drops automatic pong frames while ``is_silent()``."""

    class SilenceableConnection(ServerConnection):
        def send_data(self) -> None:
            if is_silent():
                self.protocol.writes = [data for data in self.protocol.writes if data[:1] != _PONG_HEADER]
            super().send_data()

    return SilenceableConnection


async def _close_without_status(ws: ServerConnection) -> None:
    try:
        async with ws.send_context():
            ws.protocol.send_close()
    except ConnectionClosed:
        pass
    except Exception:
        await ws.close(CloseCode.POLICY_VIOLATION)


class Peer:
    """One WebSocket connection: its protocol state and an ordered outbound queue."""

    def __init__(self, peer_id: int, ws: ServerConnection, state: ConnectionState) -> None:
        self.id = peer_id
        self.ws = ws
        self.state = state
        self.reason: CloseReason | None = None
        self._queue: asyncio.Queue[str | bytes | CloseReason] = asyncio.Queue()
        self._buffered = 0
        self._writer = asyncio.create_task(self._write())

    def send(self, frame: str | bytes) -> None:
        """Queue a frame; drop the connection if too much is already waiting."""
        self._buffered += len(frame)
        if self._buffered > MAX_BUFFERED_BYTES:
            self.abort(CloseReason.SLOW_CONSUMER)
            return
        self._queue.put_nowait(frame)

    def close(self, reason: CloseReason) -> None:
        """Close (no status code) once the queued frames are sent."""
        self.reason = self.reason or reason
        self._queue.put_nowait(reason)

    def abort(self, reason: CloseReason) -> None:
        """Drop the TCP connection at once."""
        self.reason = self.reason or reason
        self.ws.transport.abort()

    async def _write(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                item = await self._queue.get()
                if isinstance(item, CloseReason):
                    await _close_without_status(self.ws)
                    return
                self._buffered -= len(item)
                await self.ws.send(item)

    async def finish(self) -> None:
        """Stop the writer."""
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    def stats(self) -> ConnectionStats:
        """This connection's counters."""
        host, port, *_ = self.ws.remote_address or ("?", 0)
        return ConnectionStats(
            id=self.id,
            remote=f"{host}:{port}",
            messages_in=self.state.messages_in,
            max_messages_in_window=self.state.max_in_window,
            wants=sorted(self.state.wants),
            track_address=self.state.track_address.key if self.state.track_address else None,
            track_addresses=list(self.state.track_addresses),
            track_tx=self.state.txs.track_tx,
            track_txs=list(self.state.txs.track_txs or ()),
        )
