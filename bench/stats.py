"""Percentiles and the summaries every scenario reports."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile (nearest rank) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(values: Iterable[float]) -> dict[str, float]:
    """Count, p50, p95, p99 and max of ``values`` (in their own unit)."""
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else math.nan,
    }


def median(values: Iterable[float]) -> float:
    """The median, NaN when empty."""
    listed = [v for v in values if not math.isnan(v)]
    return statistics.median(listed) if listed else math.nan


def latencies_ms(samples: Iterable[Sequence[float]], sent: dict[int, float]) -> list[float]:
    """Delivery latency in ms of every (seq, receive time) sample whose frame was sent in ``sent``."""
    return [(received - sent[int(seq)]) * 1000 for seq, received in samples if int(seq) in sent]
