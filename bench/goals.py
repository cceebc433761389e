"""The project's performance goals, judged on the figures of one run (medians of its repeats)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.report import markdown_table, med_of

MIB_LIMIT = 256.0


@dataclass(frozen=True)
class Verdict:
    """One goal and what this run measured for it."""

    goal: str
    measured: str
    met: bool | None
    """None: this run did not measure it."""


def _latency(figures: dict[str, Any], streams: str, limit_ms: float) -> Verdict:
    goal = f"end-to-end p99 <= {limit_ms:g} ms with {int(streams):,} stream(s)"
    runs = figures.get("latency", {}).get(streams)
    if not runs:
        return Verdict(goal, "not measured", None)
    p99 = med_of(runs, "mcp_ms", "p99")
    return Verdict(goal, f"{p99:.1f} ms", p99 <= limit_ms)


def _fanout(figures: dict[str, Any]) -> Verdict:
    goal = f">= 5,000 concurrent stream calls per process under {MIB_LIMIT:g} MiB RSS"
    steps = figures.get("fanout", {}).get("steps")
    if not steps:
        return Verdict(goal, "not measured", None)
    held = [s for s in steps if s["complete"]]
    biggest = max(held, key=lambda s: s["streams"], default=None)
    if biggest is None:
        return Verdict(goal, "no step completed", False)
    under = [s["streams"] for s in held if s["gateway"]["rss_mib"] <= MIB_LIMIT]
    measured = (
        f"{biggest['streams']:,} held at {biggest['gateway']['rss_mib']:.0f} MiB; "
        f"largest step under {MIB_LIMIT:g} MiB: {max(under, default=0):,}"
    )
    return Verdict(goal, measured, biggest["streams"] >= 5000 and biggest["gateway"]["rss_mib"] <= MIB_LIMIT)


def _pull(figures: dict[str, Any]) -> Verdict:
    goal = "want=false p99 <= 10 ms at 200 requests/s"
    runs = figures.get("pull", {}).get("at_rate")
    if not runs:
        return Verdict(goal, "not measured", None)
    p99, rate = med_of(runs, "latency_ms", "p99"), runs[0]["rate_hz"]
    met = p99 <= 10 if rate >= 200 else None
    return Verdict(goal, f"{p99:.1f} ms at {rate:g}/s", met)


def _ingest(figures: dict[str, Any]) -> Verdict:
    goal = "ingestor >= 5,000 frames/s on one core"
    runs = figures.get("ingest", {}).get("pipeline")
    if not runs:
        return Verdict(goal, "not measured", None)
    rate = med_of(runs, "frames_per_s")
    return Verdict(goal, f"{rate:,.0f} frames/s (pipeline + Redis)", rate >= 5000)


def _footprint(figures: dict[str, Any]) -> list[Verdict]:
    found = figures.get("footprint")
    verdicts = []
    for name in ("ingestor", "gateway"):
        goal = f"{name} at mainnet cadence: <= 2 % of a core and <= 100 MiB RSS"
        if not found:
            verdicts.append(Verdict(goal, "not measured", None))
            continue
        cpu, rss = found[name]["cpu_share"] * 100, found[name]["rss_mib"]
        verdicts.append(Verdict(goal, f"{cpu:.2f} % CPU, {rss:.0f} MiB", cpu <= 2 and rss <= 100))
    return verdicts


def verdicts(figures: dict[str, Any]) -> list[Verdict]:
    """Every goal, judged."""
    return [
        _latency(figures, "1", 5),
        _latency(figures, "1000", 50),
        _fanout(figures),
        _pull(figures),
        _ingest(figures),
        *_footprint(figures),
    ]


def goal_rows(judged: list[Verdict]) -> list[str]:
    """The goals as a Markdown table."""
    labels = {True: "met", False: "**missed**", None: "-"}
    return markdown_table(["goal", "measured", "verdict"], [[v.goal, v.measured, labels[v.met]] for v in judged])
