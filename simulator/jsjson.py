"""JSON text exactly as the mempool backend writes it.

Values are serialized like JavaScript's ``JSON.stringify`` (compact, integral floats without ``.0``,
exponent notation only below 1e-6 or from 1e21), and frames like the backend's ``serializeResponse()``:
``{"key": value, "key2": value}`` with ``", "`` and ``": "`` at the top level only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

_string = json.JSONEncoder(ensure_ascii=False).encode


def js_number(value: float) -> str:
    """``value`` as JavaScript's ``Number.prototype.toString`` writes it."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    mantissa, _, exp_text = f"{value!r}".partition("e")
    if not exp_text:
        return mantissa
    exponent = int(exp_text)
    if not -7 < exponent < 21:
        return f"{mantissa}e{exponent:+d}"
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    return f"{sign}0.{'0' * (-exponent - 1)}{digits}"


def dumps(value: Any) -> str:
    """Compact JSON of ``value`` in ``JSON.stringify`` style."""
    if value is None or value is True or value is False:
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_string(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    raise TypeError(f"cannot serialize {type(value).__name__}")


def frame(pairs: Iterable[tuple[str, str]]) -> str:
    """A ``serializeResponse()`` frame from ``(key, serialized value)`` pairs."""
    return "{" + ", ".join(f"{_string(key)}: {value}" for key, value in pairs) + "}"


def frame_of(values: Mapping[str, Any]) -> str:
    """A ``serializeResponse()`` frame of plain values; ``None`` values are dropped like the backend does."""
    return frame((key, dumps(value)) for key, value in values.items() if value is not None)
