"""``want=false`` pulls (``stream_stats``): latency at a fixed request rate, and the most one process answers."""

from __future__ import annotations

from typing import Any

from bench.load import LoadProcess, results, start_all
from bench.procfs import CpuWindow
from bench.stack import Stack
from bench.stats import summary

PULL_PROCESSES = 2


def _specs(stack: Stack, rate_hz: float, duration_s: float, connections: int) -> list[dict[str, Any]]:
    return [
        {
            "mode": "pull",
            "host": "127.0.0.1",
            "port": stack.gateway_port,
            "connections": connections,
            "rate_hz": rate_hz / PULL_PROCESSES,
            "duration_s": duration_s,
            "tool": "stream_stats",
            "arguments": {"want": False},
        }
        for _ in range(PULL_PROCESSES)
    ]


async def pull_run(stack: Stack, rate_hz: float, duration_s: float, connections: int = 8) -> dict[str, Any]:
    """Open loop at ``rate_hz`` (0: closed loop, as fast as answered) for ``duration_s``."""
    processes: list[LoadProcess] = []
    try:
        processes = await start_all(_specs(stack, rate_hz, duration_s, connections))
        cpu = CpuWindow(stack.gateway_pid).start()
        outcomes = await results(processes, timeout_s=duration_s + 60)
        share = cpu.share()
    finally:
        for process in processes:
            process.kill()
    latencies = [value for outcome in outcomes for value in outcome["latencies_ms"]]
    return {
        "rate_hz": rate_hz,
        "duration_s": duration_s,
        "connections": connections * PULL_PROCESSES,
        "latency_ms": summary(latencies),
        "throughput_rps": sum(outcome["throughput_rps"] for outcome in outcomes),
        "errors": sum(outcome["errors"] for outcome in outcomes),
        "gateway_cpu_cores": share,
    }
