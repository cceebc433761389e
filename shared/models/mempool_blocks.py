"""Topic ``mempool-blocks``: the projected next blocks, a full replacement on every update."""

from __future__ import annotations

from pydantic import Field

from shared.models._base import Payload


class ProjectedBlock(Payload):
    """One projected block; index 0 is the next block. The last one may be a 'stack' over 1 MvB."""

    index: int = Field(description="Position: 0 is the next block to be mined.")
    size_bytes: int = Field(description="Serialized size of its transactions, bytes.")
    vsize_vb: float = Field(description="Virtual size, vbytes (may be fractional; a stack may exceed 1 MvB).")
    tx_count: int = Field(description="Number of transactions.")
    total_fees_sats: int = Field(description="Sum of fees, satoshis.")
    median_fee_rate: float = Field(description="Median effective fee rate, sat/vB.")
    fee_range: list[float] = Field(
        description="Ascending effective fee rates from lowest to highest, sat/vB (7 values; 11 for a stack)."
    )


class MempoolBlocks(Payload):
    """Projected blocks in mining order (up to 8)."""

    blocks: list[ProjectedBlock] = Field(description="Projected blocks, next block first.")
    total_vsize_vb: float = Field(description="Sum of the projected blocks' virtual sizes, vbytes.")
    next_block_median_fee_rate: float | None = Field(
        default=None, description="Median fee rate of the next block, sat/vB; None when the mempool is empty."
    )
