"""Checks of what a model reads: decimals per unit, one-sentence errors, numbers in descriptions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

FEE_LEVELS = {"fastest", "half_hour", "hour", "economy", "minimum"}
BOILERPLATE = re.compile(
    r"pydantic|https?://|for further information|type=|input_value|input_type|_error\b|_parsing\b|"
    r"validation error for|traceback",
    re.IGNORECASE,
)
METRIC_DECIMALS = {"mempool_vsize_mb": 1}
"""Decimals of alert_when's value per metric (fee metrics follow the fee rule, the rest are whole)."""


def decimals(value: float) -> int:
    """Digits after the point in the shortest text of ``value`` (99 for an exponent: too many)."""
    text = repr(value)
    if "e" in text:
        return 0 if value.is_integer() else 99
    fraction = text.partition(".")[2]
    return 0 if fraction in ("", "0") else len(fraction)


def allowed_decimals(keys: list[str], value: float, metric: str | None) -> int:
    """How many decimals the unit of the field at ``keys`` allows."""
    key = keys[-1] if keys else ""
    parent = keys[-2] if len(keys) > 1 else ""
    fee = 3 if abs(value) < 1 else 2
    if key == "value" and metric is not None:
        if metric.startswith("fee_") or metric == "next_block_median_fee":
            return fee
        return METRIC_DECIMALS.get(metric, 0)
    if key.endswith("fee_rate") or key == "fee_range" or (parent == "fees" and key in FEE_LEVELS):
        return fee
    rules = (("_btc", 8), ("_mb", 1), ("_percent", 2), ("_unix_s", 0), ("_s", 1))
    return next((places for suffix, places in rules if key.endswith(suffix)), 0)


def _floats(node: Any, keys: list[str]) -> Iterator[tuple[list[str], float]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _floats(child, [*keys, key])
    elif isinstance(node, list):
        for child in node:
            yield from _floats(child, keys)
    elif isinstance(node, float):
        yield keys, node


def overly_precise(body: dict[str, Any]) -> list[str]:
    """Every float of a result with more decimals than its unit allows, as 'path=value'."""
    metric = body.get("metric") if isinstance(body.get("metric"), str) else None
    return [
        f"{'.'.join(keys)}={value!r}"
        for keys, value in _floats(body, [])
        if decimals(value) > allowed_decimals(keys, value, metric)
    ]


def text_parts(result: Any) -> tuple[str, dict[str, Any]]:
    """The summary line and the JSON after it, of a result's text."""
    text = "".join(getattr(part, "text", "") for part in result.content)
    summary, _, rest = text.partition("\n")
    return summary, json.loads(rest)


def result_bytes(result: Any) -> int:
    """Bytes of a result's text plus its structured content (compact JSON), as a model's host gets them."""
    text = "".join(getattr(part, "text", "") for part in result.content)
    structured = json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode()) + len(structured.encode())


def is_one_plain_sentence(text: str) -> bool:
    """One line, no library boilerplate, a full stop at most at the end."""
    body = text.rstrip(".")
    return "\n" not in text and not BOILERPLATE.search(text) and not re.search(r"\.\s+[A-Z]", body)


def _bounds(prop: dict[str, Any]) -> tuple[float, float]:
    """The bounds of a numeric parameter (also inside an ``anyOf`` with null)."""
    for branch in [prop, *prop.get("anyOf", [])]:
        low = branch.get("minimum", branch.get("exclusiveMinimum"))
        high = branch.get("maximum")
        if low is not None or high is not None:
            return float("-inf" if low is None else low), float("inf" if high is None else high)
    return float("-inf"), float("inf")


NUMBER = r"(-?\d+(?:\.\d+)?)"


def numbers_outside_bounds(tool: dict[str, Any]) -> list[str]:
    """Numbers a tool's texts give for a bounded parameter that its schema would reject.

    Read: every number in a parameter's own description, and in the tool's description every number
    written next to a parameter's name ('timeout_s=600', 'timeout_s (e.g. 600)', 'timeout_s up to 600',
    'max_events 600').
    """
    properties: dict[str, Any] = tool["inputSchema"].get("properties", {})
    bad = []
    for name, prop in properties.items():
        low, high = _bounds(prop)
        if (low, high) == (float("-inf"), float("inf")):
            continue
        texts = [prop.get("description", "")]
        pattern = rf"\b{name}\b\s*(?:=|:|\(e\.g\.|\(up to|up to|of|\s)\s*{NUMBER}"
        mentions = [float(match) for match in re.findall(pattern, tool.get("description", ""))]
        mentions += [float(match) for text in texts for match in re.findall(NUMBER, text)]
        outside = [value for value in mentions if not low <= value <= high]
        bad += [f"{tool['name']}.{name}: {value:g} outside [{low:g}, {high:g}]" for value in outside]
    return bad
