"""Streaming runs: N open ``stream_stats`` calls and a plain WebSocket floor client receive the same
stamped frames; latency is receive time minus the upstream's send time, per frame and per receiver."""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.load import LoadProcess, start_all
from bench.procfs import CpuWindow, memory_kib
from bench.stack import Stack
from bench.stats import latencies_ms, summary

STREAMS_PER_PROCESS = 250
TERMINATOR_TRIES = 3
MAX_LOAD_PROCESSES = 4
_DELIVERED = re.compile(r'^gateway_events_delivered_total\{topic="stats"\} (\S+)$', re.MULTILINE)


@dataclass(frozen=True)
class StreamRun:
    """One run: ``streams`` open calls while ``frames`` frames are sent at ``rate_hz``."""

    streams: int
    frames: int
    rate_hz: float
    end: str = "result"
    """``result``: a last frame completes every call (results are checked); ``close``: clients hang up."""


def split(total: int) -> list[int]:
    """``total`` streams spread over a few load processes."""
    processes = max(1, min(MAX_LOAD_PROCESSES, math.ceil(total / STREAMS_PER_PROCESS)))
    return [total // processes + (1 if i < total % processes else 0) for i in range(processes)]


async def delivered(stack: Stack) -> float:
    """The gateway's count of stats events pushed to callers so far."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://127.0.0.1:{stack.gateway_port}/metrics")).text
    found = _DELIVERED.search(text)
    return float(found.group(1)) if found else 0.0


async def _drain(stack: Stack, before: float, expected: int, timeout_s: float) -> None:
    """Wait until the gateway has pushed every event and written them out (its CPU falls quiet)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and await delivered(stack) - before < expected:
        await asyncio.sleep(0.2)
    await stack.wait_quiet(max(1.0, deadline - time.monotonic()))


def _specs(stack: Stack, run: StreamRun) -> list[dict[str, Any]]:
    arguments = {"max_events": run.frames + 1, "timeout_s": 290}
    floor = {"mode": "floor", "url": f"ws://127.0.0.1:{stack.upstream_port}/floor"}
    calls = [
        {
            "mode": "streams",
            "host": "127.0.0.1",
            "port": stack.gateway_port,
            "count": count,
            "tool": "stream_stats",
            "arguments": arguments,
            "ramp_per_s": 1000,
        }
        for count in split(run.streams)
    ]
    return [floor, *calls]


async def stream_run(stack: Stack, run: StreamRun) -> dict[str, Any]:
    """Hold the calls, send the frames, and measure delivery against the floor."""
    processes: list[LoadProcess] = []
    try:
        processes = await start_all(_specs(stack, run))
        held = await stack.wait_streams(run.streams, 60 + run.streams / 50)
        await stack.wait_quiet(30 + run.streams / 100)
        before = await delivered(stack)
        cpu = CpuWindow(stack.gateway_pid).start()
        sent = await stack.emit(run.frames, run.rate_hz)
        await _drain(stack, before, run.frames * run.streams, 30 + run.streams / 100)
        footprint: dict[str, Any] = {
            "cpu_cores": cpu.share(),
            "rss_mib": memory_kib(stack.gateway_pid)["VmRSS"] / 1024,
            "redis": stack.redis_connections(),
        }
        outcomes = await _finish(stack, processes, run)
        await stack.wait_streams_gone(30 + run.streams / 100)
    finally:
        for process in processes:
            process.kill()
    return _measure(run, held, sent, outcomes, footprint)


async def _finish(stack: Stack, processes: list[LoadProcess], run: StreamRun) -> list[dict[str, Any]]:
    """End the calls (hang up, or one more frame so each returns its result) and collect every result."""
    floor, calls = processes[0], processes[1:]
    floor.stop()
    if run.end == "close":
        for process in calls:
            process.stop()
    timeout_s = 120 + run.streams / 20
    pending = [asyncio.ensure_future(process.result(timeout_s)) for process in processes]
    if run.end == "result":
        for _ in range(TERMINATOR_TRIES):
            await stack.emit(1, 1)
            _, waiting = await asyncio.wait(pending[1:], timeout=5 + run.streams / 100)
            if not waiting:
                break
        else:
            for process in calls:
                process.stop()
    return list(await asyncio.gather(*pending))


def _measure(
    run: StreamRun, held: int, sent: dict[int, float], outcomes: list[dict[str, Any]], footprint: dict[str, Any]
) -> dict[str, Any]:
    floor, calls = outcomes[0], outcomes[1:]
    ours = latencies_ms([s for outcome in calls for s in outcome["samples"]], sent)
    floor_ms = latencies_ms(floor["samples"], sent)
    mcp, base = summary(ours), summary(floor_ms)
    expected = run.frames * run.streams
    return {
        "streams": run.streams,
        "held": held,
        "frames": run.frames,
        "rate_hz": run.rate_hz,
        "mcp_ms": mcp,
        "floor_ms": base,
        "ratio": {key: mcp[key] / base[key] if base[key] else math.nan for key in ("p50", "p95", "p99", "max")},
        "delivered": len(ours),
        "expected": expected,
        "calls_ok": sum(int(outcome["ok"]) for outcome in calls),
        "calls_failed": [failure for outcome in calls for failure in outcome["failed"]][:3],
        "progress_per_call": sorted({n for outcome in calls for n in outcome["progress_per_call"]}),
        "events_per_call": _merge([outcome["events_per_call"] for outcome in calls]),
        "gateway": footprint,
    }


def _merge(histograms: list[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for histogram in histograms:
        for events, calls in histogram.items():
            merged[events] = merged.get(events, 0) + calls
    return merged


def complete(result: dict[str, Any]) -> bool:
    """Every event reached every call (and, when calls returned, every call ended in a result)."""
    whole = result["delivered"] == result["expected"] and result["held"] >= result["streams"]
    if result["calls_ok"]:
        whole = whole and result["calls_ok"] == result["streams"] and not result["calls_failed"]
    return bool(whole)
