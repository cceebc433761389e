"""``python -m bench``: run the benchmarks, print the tables, write the figures as JSON.

Usage::

    uv run python -m bench            # the full plan (under 10 minutes)
    uv run python -m bench --quick    # a smoke run of every harness path (under a minute, for CI)
    uv run python -m bench --only latency,pull

Everything runs on loopback: a private redis-server, the bench upstream, ``mempool-ws ingest`` and
``mempool-ws gateway`` as separate processes, and load processes (``bench.loadgen``, Locust).
Results land in ``bench/results/`` (JSON with every raw figure, and the Markdown tables).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.goals import goal_rows, verdicts
from bench.plan import FULL, QUICK, SCENARIOS
from bench.report import fanout_rows, footprint_rows, ingest_rows, latency_rows, pull_rows
from bench.run import run_plan
from bench.streams import complete

RESULTS = Path(__file__).with_name("results")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def render(figures: dict[str, Any], info: dict[str, Any]) -> str:
    """The Markdown report of one run."""
    lines = [
        f"Run `{info['plan']}` on {info['finished']}: {info['machine']['cpu']}, {info['machine']['cores']} cores, "
        f"{info['machine']['memory_gib']} GiB, Linux {info['machine']['kernel']}, Python {info['machine']['python']}; "
        f"load average at start {', '.join(f'{v:.2f}' for v in info['machine']['load_average_at_start'])}; "
        f"took {info['seconds']:.0f} s.",
        "",
    ]
    sections = [
        ("latency", "End-to-end latency: upstream send -> MCP progress notification (ms)", latency_rows),
        ("fanout", "Fan-out: open stream calls on one gateway process", fanout_rows),
        ("ingest", "Ingestor throughput (composed/stats.json frames: 2 events each)", ingest_rows),
        ("footprint", "Footprint at mainnet cadence", footprint_rows),
    ]
    for key, title, rows in sections:
        if key in figures:
            lines += [f"### {title}", "", *rows(figures[key]), ""]
            if key == "fanout":
                most = figures[key]["max_streams_p99_under_250ms"]
                lines += [f"Most streams with delivery p99 under 250 ms: {most:,}", ""]
    if "pull" in figures:
        pulls = pull_rows(figures["pull"], figures.get("locust"))
        lines += ["### Pull (`stream_stats want=false`) and Locust", "", *pulls, ""]
    if info["plan"] == "full":
        lines += ["### Goals", "", *goal_rows(verdicts(figures)), ""]
    else:
        lines += ["Goals are judged on the full plan only (quick sizes are too small to judge).", ""]
    return "\n".join(lines)


def broken(figures: dict[str, Any]) -> list[str]:
    """Signs that the harness (or the product) is broken: lost events, failed calls, errors. Never timing."""
    problems = []
    for streams, runs in figures.get("latency", {}).items():
        for run in runs:
            if not complete(run):
                problems.append(
                    f"latency {streams}: {run['delivered']}/{run['expected']} events, {run['calls_failed']}"
                )
    steps = figures.get("fanout", {}).get("steps", [])
    if steps and not steps[0]["complete"]:
        problems.append(f"fan-out {steps[0]['streams']}: {steps[0]['delivered']}/{steps[0]['expected']} events")
    for run in [*figures.get("pull", {}).get("at_rate", []), *figures.get("pull", {}).get("max", [])]:
        if run["errors"] or not run["throughput_rps"]:
            problems.append(f"pull: {run['errors']} errors, {run['throughput_rps']:.0f} req/s")
    for path, runs in figures.get("ingest", {}).items():
        if any(not run["frames_per_s"] for run in runs):
            problems.append(f"ingest {path}: no frames went through")
    footprint = figures.get("footprint")
    if footprint and footprint["still_open"] < footprint["streams"]:
        problems.append(f"footprint: {footprint['still_open']}/{footprint['streams']} idle streams stayed open")
    for run in figures.get("locust", {}).get("runs", []):
        if run["failures"]:
            problems.append(f"locust {run['users']} agents: {run['failures']} failed requests")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the chosen plan and scenarios; exit 1 if the harness broke."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat, no Locust (CI)")
    parser.add_argument("--only", help=f"comma-separated scenarios out of {','.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and Markdown results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    plan = QUICK if args.quick else FULL
    scenarios = tuple(args.only.split(",")) if args.only else plan.scenarios
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    info: dict[str, Any] = {"plan": plan.name, "machine": machine(), "scenarios": scenarios}
    started = time.monotonic()
    figures = asyncio.run(run_plan(plan, scenarios))
    info["seconds"] = time.monotonic() - started
    info["finished"] = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    report = render(figures, info)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    payload = {"info": info, "figures": figures, "goals": [v.__dict__ for v in verdicts(figures)]}
    (args.out / f"bench-{plan.name}-{stamp}.json").write_text(json.dumps(payload, indent=1, default=str))
    (args.out / f"latest-{plan.name}.md").write_text(report + "\n")
    print(f"figures written to {args.out}/bench-{plan.name}-{stamp}.json", file=sys.stderr)
    problems = broken(figures)
    for problem in problems:
        print(f"BROKEN: {problem}", file=sys.stderr)
    return 1 if problems else 0
