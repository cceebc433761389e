"""Fast JSON for the hot paths (orjson), with the standard library's exact behaviour as the fallback.

orjson is strict (no NaN literals, no lone surrogates); text it refuses is handed to :mod:`json`, so
callers see the values and errors :mod:`json` would give. One difference remains: orjson reads an
integer beyond 64 bits as a float, so readers of untrusted numbers bound their magnitude (the frame
normalizer refuses anything beyond the 64-bit range either way).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


def loads(raw: str | bytes) -> Any:
    """Parse JSON text; raise :class:`ValueError` (or RecursionError) as :func:`json.loads` would."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def dumps_compact(value: Any) -> str:
    """Compact JSON (no spaces); raise :class:`ValueError` for NaN or infinity as ``allow_nan=False`` does."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    if "null" in text and _has_non_finite(value):
        raise ValueError("Out of range float values are not JSON compliant")
    return text


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(item) for item in value)
    return False
