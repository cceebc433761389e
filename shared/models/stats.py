"""Topic ``stats``: mempool info, inflow, recommended fees and the difficulty adjustment."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from shared.models._base import Payload


class MempoolInfo(Payload):
    """Bitcoin Core ``getmempoolinfo`` as relayed by the upstream, in explicit units."""

    loaded: bool | None = Field(default=None, description="Whether the node finished loading its mempool.")
    tx_count: int = Field(description="Transactions in the mempool.")
    vsize_vb: int = Field(description="Sum of transaction virtual sizes, vbytes (1 MB = 1,000,000 vB).")
    memory_usage_bytes: int | None = Field(default=None, description="Node memory used by the mempool, bytes.")
    total_fee_btc: float | None = Field(default=None, description="Sum of fees, BTC.")
    max_mempool_bytes: int | None = Field(default=None, description="Node mempool memory limit, bytes.")
    min_fee_rate: float | None = Field(
        default=None, description="Lowest fee rate the mempool accepts now (mempoolminfee), sat/vB."
    )
    min_relay_fee_rate: float | None = Field(default=None, description="Minimum relay fee rate, sat/vB.")


class RecommendedFees(Payload):
    """Fee rates the upstream recommends per confirmation target, sat/vB (sub-sat values possible)."""

    fastest: float = Field(description="Next block, sat/vB.")
    half_hour: float = Field(description="Within about 3 blocks, sat/vB.")
    hour: float = Field(description="Within about 6 blocks, sat/vB.")
    economy: float = Field(description="Low priority, sat/vB.")
    minimum: float = Field(description="Lowest rate that still propagates, sat/vB.")


class DifficultyAdjustment(Payload):
    """Progress of the current difficulty epoch and the estimated next adjustment."""

    progress_percent: float = Field(description="Share of the 2016-block epoch done, percent.")
    difficulty_change_percent: float = Field(description="Estimated difficulty change, percent.")
    estimated_retarget_unix_ms: int | None = Field(default=None, description="Estimated retarget time, Unix ms.")
    remaining_blocks: int = Field(description="Blocks left in the epoch.")
    remaining_time_ms: int | None = Field(default=None, description="Estimated time left, milliseconds.")
    previous_retarget_percent: float | None = Field(default=None, description="Last adjustment, percent.")
    previous_retarget_unix_s: int | None = Field(default=None, description="Time of the last retarget, Unix s.")
    next_retarget_height: int = Field(description="Height at which difficulty next changes.")
    time_avg_ms: float | None = Field(default=None, description="Average block interval this epoch, ms.")
    adjusted_time_avg_ms: float | None = Field(default=None, description="Adjusted average interval, ms.")
    time_offset_ms: float | None = Field(default=None, description="Testnet time offset, ms (0 elsewhere).")
    expected_blocks: float | None = Field(default=None, description="Blocks expected so far at 10 min each.")


class Stats(Payload):
    """The latest statistics: each part is the newest value seen; ``updated`` names the refreshed ones."""

    # Every field is optional, so without this a gap notice would also match the schema of stats.
    model_config = ConfigDict(json_schema_extra={"not": {"required": ["gap"]}})

    mempool: MempoolInfo | None = Field(default=None, description="Mempool size and limits.")
    vbytes_per_second: float | None = Field(
        default=None, description="Mempool inflow, vbytes per second (upstream 150 s average)."
    )
    fees: RecommendedFees | None = Field(default=None, description="Recommended fee rates, sat/vB.")
    difficulty_adjustment: DifficultyAdjustment | None = Field(default=None, description="Difficulty epoch.")
    updated: list[str] = Field(
        default_factory=list,
        description="Parts refreshed by this event: mempool, vbytes_per_second, fees, difficulty_adjustment.",
    )
