"""Topic ``tx:{txid}``: the life of one tracked transaction (mempool position, confirmation, replacement)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.models._base import Payload

TxState = Literal["mempool", "confirmed", "replaced", "removed"]
"""``mempool``: unconfirmed; ``confirmed``: in a block; ``replaced``: a higher-fee version (RBF) took its
place; ``removed``: left the mempool unmined for another reason (expiry, eviction, a replaced parent)."""


class TxPosition(Payload):
    """Where an unconfirmed transaction sits in the projected blocks."""

    block_index: int = Field(
        description="Projected block it is in: 0 is the next block; the last index (7 upstream) is the "
        "stack of everything beyond, so a large index means 'not soon'."
    )
    vsize_ahead_vb: float = Field(
        description="Virtual size ahead of it inside that projected block, vbytes: the upstream's offset of "
        "the transaction's middle from the block's start (transactions before it plus half its own size)."
    )
    effective_fee_rate: float | None = Field(
        default=None,
        description="Effective fee rate counting CPFP relatives (a child paying for it raises it), sat/vB. "
        "The upstream reports it only when it changes, so this is the latest value seen; None before any.",
    )


class TxStatus(Payload):
    """One change in a tracked transaction's life, as the upstream reported it."""

    txid: str = Field(description="Transaction id, 64 lower-case hex digits.")
    status: TxState = Field(description="mempool, confirmed, replaced or removed.")
    position: TxPosition | None = Field(default=None, description="Projected position; only while in the mempool.")
    block_height: int | None = Field(
        default=None, description="Height of the confirming block; None when the upstream frame did not carry it."
    )
    block_hash: str | None = Field(default=None, description="Hash of the confirming block, hex.")
    block_time_unix_s: int | None = Field(default=None, description="Timestamp of the confirming block, Unix s.")
    confirmations: int | None = Field(
        default=None,
        description="Blocks confirming it, its own included: 1 in the event of the block that confirms it; "
        "track_tx results count it at the current tip. None when unknown.",
    )
    replaced_by: str | None = Field(default=None, description="Txid of the replacing transaction (RBF), hex.")
    accelerated: bool = Field(
        default=False, description="Whether it is accelerated (mined out of fee order by accelerating pools)."
    )
