"""A load process: many MCP stream calls, a plain WebSocket floor client, or a pull request generator.

Run by the orchestrator as ``python -m bench.loadgen '<json spec>'``. It prints ``ready`` once its
load is in place, stops when its work is done or when ``stop`` arrives on stdin, and prints one JSON
line with what it measured (receive times are ``time.time()``, comparable across processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect

from bench.frames import event_seqs, frame_seq
from bench.mcpwire import McpConnection, Reply, call_request

Samples = list[tuple[int, float]]


async def _stop_requested() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"stop":
            return


def _ready() -> None:
    print("ready", flush=True)


async def _open_ramped(host: str, port: int, count: int, per_s: float) -> list[McpConnection]:
    connections: list[McpConnection] = []
    batch = max(1, int(per_s / 20))
    while len(connections) < count:
        wanted = min(batch, count - len(connections))
        connections += await asyncio.gather(*(McpConnection.open(host, port) for _ in range(wanted)))
        await asyncio.sleep(0.05)
    return connections


async def streams(spec: dict[str, Any]) -> dict[str, Any]:
    """Hold ``count`` streaming calls; record (seq, receive time) of every progress event."""
    host, port = spec["host"], int(spec["port"])
    samples: Samples = []
    received: list[int] = [0] * int(spec["count"])

    def receiver(index: int) -> Callable[[bytes, float], None]:
        def on_progress(data: bytes, now: float) -> None:
            for seq in event_seqs(data):
                samples.append((seq, now))
                received[index] += 1

        return on_progress

    connections = await _open_ramped(host, port, int(spec["count"]), float(spec.get("ramp_per_s", 2000)))
    waiters: list[asyncio.Future[Reply]] = []
    for i, connection in enumerate(connections):
        request = call_request(f"{host}:{port}", spec["tool"], spec["arguments"], i + 1)
        waiters.append(connection.send(request, receiver(i)))
        if i % 50 == 49:
            await asyncio.sleep(0.01)
    _ready()
    stop = asyncio.create_task(_stop_requested())
    everything: asyncio.Future[list[Reply | BaseException]] = asyncio.gather(*waiters, return_exceptions=True)
    watched: list[asyncio.Future[Any]] = [stop, everything]
    await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    for connection in connections:
        if not everything.done():
            connection.close()
    outcomes = await everything
    stop.cancel()
    replies = [o for o in outcomes if isinstance(o, Reply)]
    return {
        "samples": samples,
        "ok": sum(1 for r in replies if r.ok),
        "failed": [r.message[:300].decode(errors="replace") for r in replies if not r.ok][:5],
        "closed": sum(1 for o in outcomes if not isinstance(o, Reply)),
        "progress_per_call": sorted({r.progress for r in replies}),
        "events_per_call": {str(n): received.count(n) for n in sorted(set(received))},
    }


async def floor(spec: dict[str, Any]) -> dict[str, Any]:
    """A plain WebSocket client of the upstream: the floor every MCP figure is compared with."""
    samples: Samples = []
    async with connect(spec["url"], compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"action": "want", "data": ["stats"]}))
        _ready()
        stop = asyncio.create_task(_stop_requested())
        while not stop.done():
            receive = asyncio.ensure_future(ws.recv(decode=False))
            await asyncio.wait([receive, stop], return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                receive.cancel()
                break
            now = time.time()
            seq = frame_seq(receive.result())
            if seq is not None:
                samples.append((seq, now))
    return {"samples": samples}


async def _pull_worker(
    connection: McpConnection, request: bytes, jobs: asyncio.Queue[float], done: list[tuple[float, float, bool]]
) -> None:
    while True:
        scheduled = await jobs.get()
        if connection.closed:
            done.append((scheduled, time.time(), False))
            continue
        reply = await connection.send(request)
        done.append((scheduled, reply.finished, reply.ok))


async def pull(spec: dict[str, Any]) -> dict[str, Any]:
    """``want=false`` calls: open loop at ``rate_hz``, or closed loop (as fast as answered) without it.

    Latency runs from the scheduled send time, so a late start counts against the server.
    """
    host, port = spec["host"], int(spec["port"])
    request = call_request(f"{host}:{port}", spec["tool"], spec["arguments"], 1, progress=False)
    connections = [await McpConnection.open(host, port) for _ in range(int(spec["connections"]))]
    jobs: asyncio.Queue[float] = asyncio.Queue()
    done: list[tuple[float, float, bool]] = []
    workers = [asyncio.create_task(_pull_worker(c, request, jobs, done)) for c in connections]
    _ready()
    rate, duration = float(spec.get("rate_hz", 0)), float(spec["duration_s"])
    start = time.time()
    if rate > 0:
        for i in range(int(rate * duration)):
            delay = start + i / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            jobs.put_nowait(start + i / rate)
    else:
        while time.time() - start < duration:
            while jobs.qsize() < len(connections):
                jobs.put_nowait(time.time())
            await asyncio.sleep(0.001)
    deadline = time.time() + 10
    while jobs.qsize() and time.time() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    for task in workers:
        task.cancel()
    for connection in connections:
        connection.close()
    window_end = start + duration
    return {
        "latencies_ms": [(end - begin) * 1000 for begin, end, ok in done if ok],
        "errors": sum(1 for _, _, ok in done if not ok),
        "throughput_rps": sum(1 for _, end, ok in done if ok and end <= window_end) / duration,
    }


MODES = {"streams": streams, "floor": floor, "pull": pull}


def main() -> None:
    """Run the mode named in the JSON spec given as the only argument."""
    spec = json.loads(sys.argv[1])
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(MODES[spec["mode"]](spec))
        sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
