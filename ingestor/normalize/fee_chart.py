"""The ``live-2h-chart`` key: one statistics point, current shape or the legacy database-row shape.

Current shape: ``added`` in Unix s, ``count``, ``vsizes`` (39 bands; 38 before the 0 sat/vB band existed).
Legacy shape: the raw row, ``added`` as ISO text, ``unconfirmed_transactions`` and one ``vsizeN`` (or
``vsize_N``) column per band whose floor is N sat/vB.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from ingestor.normalize._coerce import (
    JsonObject,
    Malformed,
    opt_float,
    opt_rounded_int,
    req_float,
    to_array,
    to_object,
    to_rounded_int,
    to_rounded_int_list,
)
from shared.models import FEE_BAND_FLOORS, FeeChartPoint

_BAND_COLUMN: Final = re.compile(r"vsize_?(\d{1,4})")
_FLOORS_BY_BAND_COUNT: Final = {
    len(FEE_BAND_FLOORS): list(FEE_BAND_FLOORS),
    len(FEE_BAND_FLOORS) - 1: list(FEE_BAND_FLOORS[1:]),
}


def _unix_s(value: object) -> int:
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise Malformed("not an ISO 8601 date", "added") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return round(moment.timestamp())
    return to_rounded_int(value, "added")


def _tx_count(obj: JsonObject) -> int:
    if "count" in obj:
        return to_rounded_int(obj["count"], "count")
    return to_rounded_int(obj.get("unconfirmed_transactions"), "unconfirmed_transactions")


def _bands_from_list(value: object) -> tuple[list[int], list[int]]:
    bands = to_array(value, "vsizes")
    floors = _FLOORS_BY_BAND_COUNT.get(len(bands))
    if floors is None:
        raise Malformed(f"{len(bands)} bands, expected {len(FEE_BAND_FLOORS)}", "vsizes")
    return to_rounded_int_list(bands, "vsizes"), floors


def _bands_from_columns(obj: JsonObject) -> tuple[list[int], list[int]]:
    columns: list[tuple[int, int]] = []
    for key, value in obj.items():
        match = _BAND_COLUMN.fullmatch(key)
        if match:
            columns.append((int(match[1]), to_rounded_int(value, key)))
    if not columns:
        raise Malformed("no vsizes and no vsizeN columns")
    columns.sort()
    floors = [floor for floor, _ in columns]
    if len(set(floors)) != len(floors):
        raise Malformed("duplicate vsizeN columns")
    return [vsize for _, vsize in columns], floors


def parse_fee_chart_point(value: object) -> FeeChartPoint:
    """One chart point in either shape. Raises :class:`~ingestor.normalize._coerce.Malformed`."""
    obj = to_object(value)
    if "vsizes" in obj:
        bands, floors = _bands_from_list(obj["vsizes"])
    else:
        bands, floors = _bands_from_columns(obj)
    fields: dict[str, Any] = {
        "added_unix_s": _unix_s(obj.get("added")),
        "tx_count": _tx_count(obj),
        "vbytes_per_second": req_float(obj, "vbytes_per_second"),
        "total_fee_sats": opt_rounded_int(obj, "total_fee"),
        "mempool_byte_weight": opt_rounded_int(obj, "mempool_byte_weight"),
        "min_fee_rate": opt_float(obj, "min_fee"),
        "vsize_by_fee_band": bands,
        "fee_band_floors": floors,
    }
    return FeeChartPoint.model_validate(fields)
