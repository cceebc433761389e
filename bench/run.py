"""Running a :class:`~bench.plan.Plan` against one live stack; every scenario's raw figures in a dict."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import ingest, locust_run
from bench.footprint import footprint_run
from bench.plan import Plan
from bench.procfs import memory_kib
from bench.pull import pull_run
from bench.stack import Stack, running_stack
from bench.streams import StreamRun, complete, stream_run

log = logging.getLogger("bench")
FANOUT_P99_LIMIT_MS = 250.0


async def latency(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Every latency level, ``latency_repeats`` times (levels interleaved, so drift hits all alike)."""
    runs: dict[str, list[dict[str, Any]]] = {str(run.streams): [] for run in plan.latency}
    for repeat in range(plan.latency_repeats):
        for run in plan.latency:
            log.info("latency: %d streams, repeat %d", run.streams, repeat + 1)
            runs[str(run.streams)].append(await stream_run(stack, run))
    return runs


async def fanout(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Growing numbers of open calls on a fresh gateway each; stops after the first incomplete step."""
    steps = []
    for streams in plan.fanout_steps:
        log.info("fan-out: %d streams", streams)
        await stack.start_gateway()
        idle_rss = memory_kib(stack.gateway_pid)["VmRSS"] / 1024
        result = await stream_run(stack, StreamRun(streams, plan.fanout_frames, plan.fanout_rate_hz, end="close"))
        result["idle_rss_mib"] = idle_rss
        result["complete"] = complete(result)
        steps.append(result)
        if not result["complete"]:
            break
    await stack.start_gateway()
    passing = [s["streams"] for s in steps if s["complete"] and s["mcp_ms"]["p99"] < FANOUT_P99_LIMIT_MS]
    return {"steps": steps, "max_streams_p99_under_250ms": max(passing, default=0)}


async def pull(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Open loop at the plan's rate, then closed loop for the most requests/s."""
    await stack.emit(3, 50)
    at_rate, most = [], []
    for repeat in range(plan.pull_repeats):
        log.info("pull: repeat %d", repeat + 1)
        at_rate.append(await pull_run(stack, plan.pull_rate_hz, plan.pull_duration_s))
        most.append(await pull_run(stack, 0, plan.max_pull_duration_s, connections=16))
    return {"at_rate": at_rate, "max": most}


async def locust(stack: Stack, plan: Plan) -> dict[str, Any]:
    """The Locust scenario for each user count, at mainnet cadence."""
    if not locust_run.available():
        return {"skipped": "uvx not found"}
    await stack.act({"action": "bench-cadence", "stats_hz": 1.0, "block_s": 600})
    try:
        runs = []
        for users in plan.locust_users:
            log.info("locust: %d users", users)
            runs.append(await locust_run.locust_run(stack, users, plan.locust_duration_s))
    finally:
        await stack.act({"action": "bench-cadence", "stats_hz": 0})
    return {"runs": runs}


async def ingest_rates(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Normalizer alone, the pipeline in this process, and the ingestor process over its socket."""
    figures: dict[str, list[dict[str, Any]]] = {"normalize": [], "pipeline": [], "socket": []}
    for repeat in range(plan.ingest_repeats):
        log.info("ingest: repeat %d", repeat + 1)
        figures["normalize"].append(ingest.normalize_rate(plan.normalize_frames))
        figures["pipeline"].append(await ingest.pipeline_rate(stack.redis.url, plan.pipeline_frames))
        figures["socket"].append(await ingest.socket_rate(stack, plan.socket_frames))
    return figures


async def footprint(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Idle streams at mainnet cadence, on a fresh gateway."""
    log.info("footprint: %d idle streams for %.0f s", plan.footprint_streams, plan.footprint_window_s)
    await stack.start_gateway()
    return await footprint_run(stack, plan.footprint_streams, plan.footprint_window_s)


SCENARIO_RUNNERS: dict[str, Callable[[Stack, Plan], Awaitable[dict[str, Any]]]] = {
    "latency": latency,
    "fanout": fanout,
    "pull": pull,
    "locust": locust,
    "ingest": ingest_rates,
    "footprint": footprint,
}


async def run_plan(plan: Plan, scenarios: tuple[str, ...]) -> dict[str, Any]:
    """Start the stack, run the chosen scenarios in order, and return their figures and timings."""
    figures: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    async with running_stack() as stack:
        for name in scenarios:
            started = time.monotonic()
            figures[name] = await SCENARIO_RUNNERS[name](stack, plan)
            seconds[name] = round(time.monotonic() - started, 1)
            await asyncio.sleep(0.5)
    figures["seconds"] = seconds
    return figures
