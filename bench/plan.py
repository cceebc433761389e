"""What a benchmark run measures: the full plan (under 10 minutes) and the quick one (CI, under a minute)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.streams import StreamRun

SCENARIOS = ("latency", "fanout", "pull", "locust", "ingest", "footprint")


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of every scenario."""

    name: str
    latency: tuple[StreamRun, ...]
    latency_repeats: int
    fanout_steps: tuple[int, ...]
    fanout_frames: int
    fanout_rate_hz: float
    pull_rate_hz: float
    pull_duration_s: float
    max_pull_duration_s: float
    pull_repeats: int
    locust_users: tuple[int, ...]
    locust_duration_s: int
    normalize_frames: int
    pipeline_frames: int
    socket_frames: int
    ingest_repeats: int
    footprint_streams: int
    footprint_window_s: float
    scenarios: tuple[str, ...] = field(default=SCENARIOS)


FULL = Plan(
    name="full",
    latency=(StreamRun(1, 100, 20.0), StreamRun(100, 60, 10.0), StreamRun(1000, 20, 2.0)),
    latency_repeats=3,
    fanout_steps=(100, 500, 1000, 2000, 3000, 5000),
    fanout_frames=8,
    fanout_rate_hz=1.0,
    pull_rate_hz=200.0,
    pull_duration_s=8.0,
    max_pull_duration_s=4.0,
    pull_repeats=3,
    locust_users=(10, 100),
    locust_duration_s=15,
    normalize_frames=5000,
    pipeline_frames=10000,
    socket_frames=5000,
    ingest_repeats=3,
    footprint_streams=100,
    footprint_window_s=60.0,
)

QUICK = Plan(
    name="quick",
    latency=(StreamRun(1, 20, 20.0), StreamRun(50, 10, 10.0)),
    latency_repeats=1,
    fanout_steps=(100,),
    fanout_frames=4,
    fanout_rate_hz=4.0,
    pull_rate_hz=100.0,
    pull_duration_s=2.0,
    max_pull_duration_s=2.0,
    pull_repeats=1,
    locust_users=(),
    locust_duration_s=5,
    normalize_frames=500,
    pipeline_frames=1000,
    socket_frames=1000,
    ingest_repeats=1,
    footprint_streams=10,
    footprint_window_s=5.0,
    scenarios=("latency", "fanout", "pull", "ingest", "footprint"),
)
