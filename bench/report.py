"""Turning raw figures into the tables of BENCHMARKS.md and the goal verdicts (medians of repeats)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from bench.stats import median

PERCENTILES = ("p50", "p95", "p99", "max")


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def med_of(runs: Iterable[dict[str, Any]], *path: str) -> float:
    """The median over ``runs`` of the value found by following ``path``."""
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(float(value))
    return median(values)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|:---|" + "|".join("---:" for _ in header[1:]) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def latency_rows(latency: dict[str, list[dict[str, Any]]]) -> list[str]:
    """End-to-end latency per concurrency level, with the floor and our ratio to it."""
    rows = []
    for streams, runs in latency.items():
        first = runs[0]
        ours = [_fmt(med_of(runs, "mcp_ms", key)) for key in PERCENTILES]
        floor = [_fmt(med_of(runs, "floor_ms", key), 2) for key in ("p50", "p99")]
        ratio = [_fmt(med_of(runs, "ratio", key)) + "x" for key in ("p50", "p99")]
        delivered = f"{sum(r['delivered'] for r in runs):,}/{sum(r['expected'] for r in runs):,}"
        load = f"{first['frames']} @ {first['rate_hz']:g}/s x{len(runs)}"
        rows.append([streams, load, *ours, *floor, *ratio, delivered])
    header = ["streams", "frames", "p50 ms", "p95 ms", "p99 ms", "max ms", "floor p50", "floor p99"]
    return markdown_table([*header, "ratio p50", "ratio p99", "delivered"], rows)


def fanout_rows(fanout: dict[str, Any]) -> list[str]:
    """One row per fan-out step."""
    rows = []
    for step in fanout["steps"]:
        redis = step["gateway"]["redis"]
        rows.append(
            [
                f"{step['streams']:,}",
                f"{step['held']:,}",
                f"{step['delivered']:,}/{step['expected']:,}",
                _fmt(step["mcp_ms"]["p50"]),
                _fmt(step["mcp_ms"]["p99"]),
                f"{_fmt(step['idle_rss_mib'], 0)} -> {_fmt(step['gateway']['rss_mib'], 0)}",
                _fmt(step["gateway"]["cpu_cores"], 2),
                f"{redis['gateway_sockets']} / {redis['client_list']}",
            ]
        )
    header = ["streams", "held", "delivered", "p50 ms", "p99 ms", "RSS MiB idle -> holding", "CPU cores"]
    return markdown_table([*header, "Redis conns (sockets / CLIENT LIST)"], rows)


def pull_rows(pull: dict[str, Any], locust: dict[str, Any] | None) -> list[str]:
    """want=false latency at the fixed rate, the most requests/s, and the Locust runs."""
    at_rate, most = pull["at_rate"], pull["max"]
    rows = [
        [
            f"lean client, open loop {at_rate[0]['rate_hz']:g}/s x{len(at_rate)}",
            _fmt(med_of(at_rate, "throughput_rps")),
            *[_fmt(med_of(at_rate, "latency_ms", key)) for key in ("p50", "p95", "p99")],
            str(sum(r["errors"] for r in at_rate)),
            _fmt(med_of(at_rate, "gateway_cpu_cores"), 2),
        ],
        [
            f"lean client, closed loop {most[0]['connections']} conns x{len(most)}",
            _fmt(med_of(most, "throughput_rps")),
            *[_fmt(med_of(most, "latency_ms", key)) for key in ("p50", "p95", "p99")],
            str(sum(r["errors"] for r in most)),
            _fmt(med_of(most, "gateway_cpu_cores"), 2),
        ],
    ]
    for run in (locust or {}).get("runs", []):
        for name, figures in run["by_name"].items():
            label = f"Locust {run['users']} agents: {name}"
            latency = [_fmt(figures["latency_ms"][key]) for key in ("p50", "p95", "p99")]
            rows.append([label, _fmt(run["requests_per_s"]), *latency, str(figures["failures"]), ""])
    return markdown_table(["load", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "gateway CPU"], rows)


def ingest_rows(figures: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Frames per second of each ingest path (medians)."""
    rows = [
        ["normalizer alone", _fmt(med_of(figures["normalize"], "frames_per_s"), 0), "1.00"],
        [
            "pipeline + Redis (in process)",
            _fmt(med_of(figures["pipeline"], "frames_per_s"), 0),
            _fmt(med_of(figures["pipeline"], "cpu_cores"), 2),
        ],
        [
            "ingestor process over its socket",
            _fmt(med_of(figures["socket"], "frames_per_s"), 0),
            _fmt(med_of(figures["socket"], "ingestor_cpu_cores"), 2),
        ],
    ]
    return markdown_table(["path", "frames/s", "CPU cores"], rows)


def footprint_rows(figures: dict[str, Any]) -> list[str]:
    """CPU share and RSS of both processes at mainnet cadence."""
    rows = []
    for name in ("ingestor", "gateway"):
        process = figures[name]
        cpu = _fmt(process["cpu_share"] * 100, 2) + " %"
        rows.append([name, cpu, _fmt(process["rss_mib"]), _fmt(process["peak_rss_mib"])])
    return markdown_table(["process", "CPU (of one core)", "RSS MiB", "peak RSS MiB"], rows)
