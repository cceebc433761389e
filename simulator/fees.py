"""Recommended fees from projected blocks, following the backend's ``fee-api.ts``.

The WebSocket and ``/api/v1/fees/precise`` use the precise variant (0.001 steps, +0.5 on the fastest
and +0.25 on the half-hour estimate); ``/api/v1/fees/recommended`` uses whole sat/vB.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

_HALF_BLOCK_VSIZE = 500_000
_NEARLY_FULL_VSIZE = 950_000


def _round_up(value: float, step: float) -> float:
    return round(math.ceil(round(value / step, 6)) * step, 3)


def _optimize(block: dict[str, Any], next_block: dict[str, Any] | None, previous: float | None, floor: float) -> float:
    median = float(block["medianFee"])
    use_fee = (median + previous) / 2 if previous is not None else median
    vsize = float(block["blockVSize"])
    if vsize <= _HALF_BLOCK_VSIZE:
        return floor
    if vsize <= _NEARLY_FULL_VSIZE and next_block is None:
        return max(use_fee * (vsize - _HALF_BLOCK_VSIZE) / _HALF_BLOCK_VSIZE, floor)
    return use_fee


def _medians(blocks: Sequence[dict[str, Any]], floor: float, rounder: Callable[[float], float]) -> list[float]:
    medians: list[float] = []
    previous: float | None = None
    for index in range(3):
        if index >= len(blocks):
            medians.append(floor)
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        previous = rounder(_optimize(blocks[index], following, previous, floor))
        medians.append(previous)
    return medians


def _ordered(fastest: float, half_hour: float, hour: float, economy: float, minimum: float) -> dict[str, float]:
    hour = max(hour, economy)
    half_hour = max(half_hour, hour)
    fastest = max(fastest, half_hour)
    return {
        "fastestFee": fastest,
        "halfHourFee": half_hour,
        "hourFee": hour,
        "economyFee": economy,
        "minimumFee": minimum,
    }


def precise_fees(blocks: Sequence[dict[str, Any]], min_fee_sat_vb: float) -> dict[str, float]:
    """The sub-sat recommendation sent over the WebSocket (``fees``), rounded to 3 decimals."""
    minimum = _round_up(min_fee_sat_vb, 0.001)
    first, second, third = _medians(blocks, minimum, lambda value: _round_up(value, 0.001))
    economy = max(minimum, min(2 * minimum, third))
    return _ordered(
        round(max(first + 0.5, 1.0, minimum), 3),
        round(max(second + 0.25, 0.5, minimum), 3),
        round(max(third, minimum), 3),
        round(economy, 3),
        minimum,
    )


def recommended_fees(blocks: Sequence[dict[str, Any]], min_fee_sat_vb: float) -> dict[str, int]:
    """The whole-sat recommendation of ``/api/v1/fees/recommended``."""
    minimum = max(1, math.ceil(round(min_fee_sat_vb, 6)))
    first, second, third = _medians(blocks, float(minimum), lambda value: float(math.ceil(round(value, 6))))
    economy = max(minimum, min(2 * minimum, int(third)))
    fees = _ordered(max(first, minimum), max(second, minimum), max(third, minimum), economy, minimum)
    return {key: int(value) for key, value in fees.items()}
