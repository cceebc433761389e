"""The ``mempool-blocks`` key: projected blocks, next block first."""

from __future__ import annotations

from typing import Any

from ingestor.normalize._coerce import (
    Malformed,
    req_float,
    req_int,
    to_array,
    to_float,
    to_float_list,
    to_object,
)
from shared.models import MempoolBlocks


def _projected_block(index: int, value: object) -> dict[str, Any]:
    obj = to_object(value)
    fee_range = obj.get("feeRange")
    return {
        "index": index,
        "size_bytes": req_int(obj, "blockSize"),
        "vsize_vb": req_float(obj, "blockVSize"),
        "tx_count": req_int(obj, "nTx"),
        "total_fees_sats": req_int(obj, "totalFees"),
        "median_fee_rate": req_float(obj, "medianFee"),
        "fee_range": [] if fee_range is None else to_float_list(fee_range, "feeRange"),
    }


def parse_mempool_blocks(value: object) -> MempoolBlocks:
    """The projected blocks; one unreadable block discards the whole update (indices are positional).

    Raises :class:`~ingestor.normalize._coerce.Malformed`.
    """
    blocks = []
    for index, item in enumerate(to_array(value)):
        try:
            blocks.append(_projected_block(index, item))
        except Malformed as exc:
            raise exc.within(index) from None
    total = to_float(sum(block["vsize_vb"] for block in blocks), "total of blockVSize")
    return MempoolBlocks.model_validate(
        {
            "blocks": blocks,
            "total_vsize_vb": total,
            "next_block_median_fee_rate": blocks[0]["median_fee_rate"] if blocks else None,
        }
    )
