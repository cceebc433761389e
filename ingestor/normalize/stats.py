"""The stats parts (``mempoolInfo``, ``vBytesPerSecond``, ``fees``, ``da``) and their merged state."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from ingestor.normalize._coerce import (
    JsonObject,
    opt_bool,
    opt_float,
    opt_int,
    opt_rounded_int,
    req_float,
    req_int,
    to_float,
    to_object,
)
from shared.models import DifficultyAdjustment, MempoolInfo, RecommendedFees, Stats

SAT_PER_VB_PER_BTC_PER_KVB: Final = 100_000
"""1 BTC/kvB = 1e8 sat / 1000 vB = 100,000 sat/vB."""

STATS_KEYS: Final = frozenset({"mempoolInfo", "vBytesPerSecond", "fees", "da"})
PART_ORDER: Final = ("mempool", "vbytes_per_second", "fees", "difficulty_adjustment")


def _sat_per_vb(obj: JsonObject, key: str) -> float | None:
    btc_per_kvb = opt_float(obj, key)
    if btc_per_kvb is None:
        return None
    return to_float(round(btc_per_kvb * SAT_PER_VB_PER_BTC_PER_KVB, 6), key)


def parse_mempool_info(value: object) -> MempoolInfo:
    """Bitcoin Core ``getmempoolinfo``: ``bytes`` is the vsize sum; fee floors are BTC/kvB upstream."""
    obj = to_object(value)
    return MempoolInfo(
        loaded=opt_bool(obj, "loaded"),
        tx_count=req_int(obj, "size"),
        vsize_vb=req_int(obj, "bytes"),
        memory_usage_bytes=opt_int(obj, "usage"),
        total_fee_btc=opt_float(obj, "total_fee"),
        max_mempool_bytes=opt_int(obj, "maxmempool"),
        min_fee_rate=_sat_per_vb(obj, "mempoolminfee"),
        min_relay_fee_rate=_sat_per_vb(obj, "minrelaytxfee"),
    )


def parse_fees(value: object) -> RecommendedFees:
    """Recommended fees in sat/vB (sub-sat floats since 2025-10, integers before)."""
    obj = to_object(value)
    return RecommendedFees(
        fastest=req_float(obj, "fastestFee"),
        half_hour=req_float(obj, "halfHourFee"),
        hour=req_float(obj, "hourFee"),
        economy=req_float(obj, "economyFee"),
        minimum=req_float(obj, "minimumFee"),
    )


def parse_difficulty_adjustment(value: object) -> DifficultyAdjustment:
    """The ``da`` object: dates and durations in ms except ``previousTime`` (Unix s)."""
    obj = to_object(value)
    return DifficultyAdjustment(
        progress_percent=req_float(obj, "progressPercent"),
        difficulty_change_percent=req_float(obj, "difficultyChange"),
        estimated_retarget_unix_ms=opt_rounded_int(obj, "estimatedRetargetDate"),
        remaining_blocks=req_int(obj, "remainingBlocks"),
        remaining_time_ms=opt_rounded_int(obj, "remainingTime"),
        previous_retarget_percent=opt_float(obj, "previousRetarget"),
        previous_retarget_unix_s=opt_rounded_int(obj, "previousTime"),
        next_retarget_height=req_int(obj, "nextRetargetHeight"),
        time_avg_ms=opt_float(obj, "timeAvg"),
        adjusted_time_avg_ms=opt_float(obj, "adjustedTimeAvg"),
        time_offset_ms=opt_float(obj, "timeOffset"),
        expected_blocks=opt_float(obj, "expectedBlocks"),
    )


class StatsState:
    """The newest valid value of each stats part: the only state a :class:`Normalizer` keeps."""

    __slots__ = ("difficulty_adjustment", "fees", "mempool", "vbytes_per_second")

    def __init__(self) -> None:
        self.mempool: MempoolInfo | None = None
        self.vbytes_per_second: float | None = None
        self.fees: RecommendedFees | None = None
        self.difficulty_adjustment: DifficultyAdjustment | None = None

    def apply(self, key: str, value: object) -> str:
        """Read the part under upstream ``key`` and keep it; return the part's name.

        Raises :class:`~ingestor.normalize._coerce.Malformed` (the old value stays) when it cannot be read.
        """
        if key == "mempoolInfo":
            self.mempool = parse_mempool_info(value)
            return "mempool"
        if key == "vBytesPerSecond":
            self.vbytes_per_second = to_float(value)
            return "vbytes_per_second"
        if key == "fees":
            self.fees = parse_fees(value)
            return "fees"
        if key == "da":
            self.difficulty_adjustment = parse_difficulty_adjustment(value)
            return "difficulty_adjustment"
        raise KeyError(key)

    def snapshot(self, refreshed: Collection[str]) -> Stats:
        """All parts as they stand, ``updated`` naming the ``refreshed`` ones in a fixed order."""
        return Stats(
            mempool=self.mempool,
            vbytes_per_second=self.vbytes_per_second,
            fees=self.fees,
            difficulty_adjustment=self.difficulty_adjustment,
            updated=[part for part in PART_ORDER if part in refreshed],
        )
