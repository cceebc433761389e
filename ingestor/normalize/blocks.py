"""The ``block`` and ``blocks`` keys: mempool's ``BlockExtended`` as a :class:`Block`."""

from __future__ import annotations

from typing import Any, Literal

from ingestor.normalize._coerce import (
    JsonObject,
    Malformed,
    opt_float,
    opt_int,
    opt_object,
    opt_str,
    req_int,
    req_str,
    to_array,
    to_float_list,
    to_object,
)
from shared.models import Block

BlockSource = Literal["live", "snapshot"]


def _pool(extras: JsonObject) -> dict[str, Any] | None:
    pool = opt_object(extras, "pool")
    if pool is None:
        return None
    try:
        return {"id": opt_int(pool, "id"), "name": req_str(pool, "name"), "slug": opt_str(pool, "slug")}
    except Malformed as exc:
        raise exc.within("pool") from None


def _extras(extras: JsonObject) -> dict[str, Any]:
    fee_range = extras.get("feeRange")
    return {
        "pool": _pool(extras),
        "reward_sats": opt_int(extras, "reward"),
        "total_fees_sats": opt_int(extras, "totalFees"),
        "median_fee_rate": opt_float(extras, "medianFee"),
        "fee_range": [] if fee_range is None else to_float_list(fee_range, "feeRange"),
        "avg_fee_sats": opt_float(extras, "avgFee"),
        "avg_fee_rate": opt_float(extras, "avgFeeRate"),
        "match_rate": opt_float(extras, "matchRate"),
        "expected_fees_sats": opt_int(extras, "expectedFees"),
    }


def parse_block(value: object, source: BlockSource) -> Block:
    """One block; without ``extras`` (Liquid) only the header fields are set.

    A missing ``difficulty`` stays None (Liquid has none). Raises
    :class:`~ingestor.normalize._coerce.Malformed`.
    """
    obj = to_object(value)
    weight = req_int(obj, "weight")
    fields: dict[str, Any] = {
        "height": req_int(obj, "height"),
        "hash": req_str(obj, "id"),
        "previous_hash": opt_str(obj, "previousblockhash"),
        "timestamp_unix_s": req_int(obj, "timestamp"),
        "median_time_unix_s": opt_int(obj, "mediantime"),
        "tx_count": req_int(obj, "tx_count"),
        "size_bytes": req_int(obj, "size"),
        "weight_wu": weight,
        "vsize_vb": weight / 4,
        "difficulty": opt_float(obj, "difficulty"),
        "version": opt_int(obj, "version"),
        "bits": opt_int(obj, "bits"),
        "nonce": opt_int(obj, "nonce"),
        "merkle_root": opt_str(obj, "merkle_root"),
        "source": source,
    }
    extras = opt_object(obj, "extras")
    if extras is not None:
        try:
            fields.update(_extras(extras))
            fields["vsize_vb"] = opt_float(extras, "virtualSize") or fields["vsize_vb"]
        except Malformed as exc:
            raise exc.within("extras") from None
    return Block.model_validate(fields)


def parse_blocks(value: object) -> tuple[list[Block], list[str]]:
    """A ``blocks`` snapshot sorted oldest first, and one error per block that could not be read.

    Raises :class:`~ingestor.normalize._coerce.Malformed` when the value is not an array.
    """
    blocks: list[Block] = []
    errors: list[str] = []
    for index, item in enumerate(to_array(value)):
        try:
            blocks.append(parse_block(item, "snapshot"))
        except Malformed as exc:
            errors.append(str(exc.within(index)))
    blocks.sort(key=lambda block: block.height)
    return blocks, errors
