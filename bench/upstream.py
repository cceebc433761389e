"""The bench upstream: a mempool-compatible WebSocket server that sends stamped frames on command.

It speaks the protocol subset the ingestor needs: ``want`` (answered with a blocks snapshot, then
subscribes the socket to broadcasts), ``ping`` (answered ``{"pong": true}``). A control socket sends
``bench-*`` actions; each reply carries the send time (``time.time()``) of every frame emitted, so
receivers in other processes can compute delivery latency on the shared machine clock.

Run: ``python -m bench.upstream --port P`` (prints ``ready`` once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.frames import FrameFactory


class BenchUpstream:
    """State of the bench upstream: subscribers, the frame sequence and the background cadence."""

    def __init__(self) -> None:
        self.frames = FrameFactory()
        self.subscribers: set[ServerConnection] = set()
        self.seq = 0
        self._cadence: asyncio.Task[None] | None = None

    def _emit_stats(self) -> tuple[int, float]:
        self.seq += 1
        frame = self.frames.stats(self.seq)
        sent = time.time()
        broadcast(self.subscribers, frame)
        return self.seq, sent

    async def emit(self, count: int, rate_hz: float) -> list[tuple[int, float]]:
        """Send ``count`` stats frames at ``rate_hz``; return (seq, send time) pairs."""
        sent: list[tuple[int, float]] = []
        start = time.monotonic()
        for i in range(count):
            delay = start + i / rate_hz - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent.append(self._emit_stats())
        return sent

    async def blast(self, count: int) -> float:
        """Send ``count`` stats frames as fast as every subscriber reads them; return the seconds it took."""
        start = time.perf_counter()
        for _ in range(count):
            self.seq += 1
            frame = self.frames.stats(self.seq)
            for ws in list(self.subscribers):
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(frame)
        return time.perf_counter() - start

    def block(self) -> None:
        """Announce a new block to every subscriber."""
        broadcast(self.subscribers, self.frames.next_block())

    def cadence(self, stats_hz: float, block_s: float) -> None:
        """Send stats frames at ``stats_hz`` and a block every ``block_s`` in the background (0: stop)."""
        if self._cadence is not None:
            self._cadence.cancel()
            self._cadence = None
        if stats_hz > 0:
            self._cadence = asyncio.create_task(self._run_cadence(stats_hz, block_s))

    async def _run_cadence(self, stats_hz: float, block_s: float) -> None:
        start = time.monotonic()
        next_block = start + block_s if block_s > 0 else float("inf")
        tick = 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, start + tick / stats_hz - time.monotonic()))
            self._emit_stats()
            if time.monotonic() >= next_block:
                self.block()
                next_block += block_s

    async def handle(self, ws: ServerConnection) -> None:
        """Serve one socket until it closes."""
        try:
            async for raw in ws:
                reply = await self._act(ws, json.loads(raw))
                if reply is not None:
                    await ws.send(json.dumps(reply, separators=(",", ":")))
        except ConnectionClosed:
            pass
        finally:
            self.subscribers.discard(ws)

    async def _act(self, ws: ServerConnection, message: dict[str, Any]) -> dict[str, Any] | None:
        action = message.get("action")
        if action == "want":
            await ws.send(self.frames.snapshot())
            self.subscribers.add(ws)
            return None
        if action == "ping":
            return {"pong": True}
        if action == "bench-emit":
            sent = await self.emit(int(message["count"]), float(message["rate_hz"]))
            return {"bench-sent": sent, "subscribers": len(self.subscribers)}
        if action == "bench-blast":
            seconds = await self.blast(int(message["count"]))
            return {"bench-blast": seconds, "last_seq": self.seq}
        if action == "bench-block":
            self.block()
            return {"bench-block": True}
        if action == "bench-cadence":
            self.cadence(float(message.get("stats_hz", 0)), float(message.get("block_s", 0)))
            return {"bench-cadence": True}
        return None


async def _main(host: str, port: int) -> None:
    upstream = BenchUpstream()
    async with serve(upstream.handle, host, port, compression=None, max_size=None, ping_interval=None) as server:
        print("ready", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await server.serve_forever()


def main() -> None:
    """Run the bench upstream until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()
