"""Footprint at mainnet cadence: a stats frame per second, a block per 600 s, and idle streams open.

The idle streams are ``stream_blocks`` calls (no block arrives in the window, so they only wait, as
an agent waiting for the next block does). CPU share and RSS of the ingestor and the gateway come
from /proc over the window.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.load import LoadProcess, start_all
from bench.procfs import CpuWindow, memory_kib
from bench.stack import Stack

MAINNET_STATS_HZ = 1.0
MAINNET_BLOCK_S = 600.0


def _specs(stack: Stack, streams: int, window_s: float) -> list[dict[str, Any]]:
    return [
        {
            "mode": "streams",
            "host": "127.0.0.1",
            "port": stack.gateway_port,
            "count": streams,
            "tool": "stream_blocks",
            "arguments": {"max_events": 10, "timeout_s": min(300, window_s + 60)},
            "ramp_per_s": 500,
        }
    ]


def _process(pid: int, window: CpuWindow) -> dict[str, float]:
    memory = memory_kib(pid)
    return {"cpu_share": window.share(), "rss_mib": memory["VmRSS"] / 1024, "peak_rss_mib": memory["VmHWM"] / 1024}


async def footprint_run(stack: Stack, streams: int, window_s: float) -> dict[str, Any]:
    """Hold ``streams`` idle calls at mainnet cadence for ``window_s`` and measure both processes."""
    processes: list[LoadProcess] = []
    await stack.act({"action": "bench-cadence", "stats_hz": MAINNET_STATS_HZ, "block_s": MAINNET_BLOCK_S})
    try:
        processes = await start_all(_specs(stack, streams, window_s))
        held = await stack.wait_streams(streams, 60)
        await asyncio.sleep(2)
        gateway, ingest = CpuWindow(stack.gateway_pid).start(), CpuWindow(stack.ingest.pid).start()
        await asyncio.sleep(window_s)
        figures = {"gateway": _process(stack.gateway_pid, gateway), "ingestor": _process(stack.ingest.pid, ingest)}
        still_open = await stack.active_streams()
    finally:
        await stack.act({"action": "bench-cadence", "stats_hz": 0})
        for process in processes:
            process.stop()
        await asyncio.gather(*(process.result(60) for process in processes), return_exceptions=True)
        for process in processes:
            process.kill()
    return {"streams": streams, "held": held, "still_open": still_open, "window_s": window_s, **figures}
