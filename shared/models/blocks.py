"""Topic ``blocks``: one event per new block (header plus mining extras)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.models._base import Payload


class MiningPool(Payload):
    """The pool that mined a block, as identified by the upstream."""

    id: int | None = Field(default=None, description="Upstream pool id.")
    name: str = Field(description="Pool name, e.g. 'Foundry USA'.")
    slug: str | None = Field(default=None, description="URL-safe pool name, e.g. 'foundryusa'.")


class Block(Payload):
    """A block: header fields, size, and mining/fee extras where the upstream provides them."""

    height: int = Field(description="Block height.")
    hash: str = Field(description="Block hash, hex.")
    previous_hash: str | None = Field(default=None, description="Hash of the parent block, hex.")
    timestamp_unix_s: int = Field(description="Header timestamp set by the miner, Unix seconds.")
    median_time_unix_s: int | None = Field(default=None, description="Median time past, Unix seconds.")
    tx_count: int = Field(description="Number of transactions, coinbase included.")
    size_bytes: int = Field(description="Serialized size, bytes.")
    weight_wu: int = Field(description="Block weight, weight units.")
    vsize_vb: float = Field(description="Virtual size (weight / 4), vbytes.")
    difficulty: float | None = Field(default=None, description="Difficulty of the block's target.")
    version: int | None = Field(default=None, description="Header version field.")
    bits: int | None = Field(default=None, description="Compact target (nBits).")
    nonce: int | None = Field(default=None, description="Header nonce.")
    merkle_root: str | None = Field(default=None, description="Merkle root, hex.")
    pool: MiningPool | None = Field(default=None, description="Mining pool, when known.")
    reward_sats: int | None = Field(default=None, description="Subsidy plus fees, satoshis.")
    total_fees_sats: int | None = Field(default=None, description="Sum of transaction fees, satoshis.")
    median_fee_rate: float | None = Field(default=None, description="Median effective fee rate, sat/vB.")
    fee_range: list[float] = Field(
        default_factory=list,
        description="Effective fee rates (min, p10, p25, p50, p75, p90, max), sat/vB.",
    )
    avg_fee_sats: float | None = Field(default=None, description="Average fee per transaction, satoshis.")
    avg_fee_rate: float | None = Field(default=None, description="Average fee rate, sat/vB.")
    match_rate: float | None = Field(default=None, description="Share of the projected block that was mined, percent.")
    expected_fees_sats: int | None = Field(default=None, description="Fees the projected block held, satoshis.")
    source: Literal["live", "snapshot", "backfill"] = Field(
        default="live",
        description="How the ingestor learned of it: a live new-block frame, a blocks snapshot at "
        "(re)connect, or the REST blocks list after an outage.",
    )
