"""Compact JSON Schemas for the tool list: the same constraints in fewer bytes (every host pays for them).

:func:`compact` rewrites a pydantic JSON Schema: every ``title``, a ``default`` of null and
``additionalProperties: true`` go (they say nothing), a whole number loses its ``.0``, and a ``$defs`` entry
used once is put in place (entries used more often stay shared, so each shape is described once). Every
``type`` stays a single type, the form the most clients can map (a host that turns tool schemas into a model
provider's function-calling dialect, such as Gemini's OpenAPI subset, rejects ``type`` arrays), and an
optional property that may be null (``anyOf: [X, {"type": "null"}]``) is written as its plain type: a
parameter left out takes its default (the server still takes null), and results leave out what they do not
know rather than send null.
"""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any]
_REF_PREFIX = "#/$defs/"
_MAPS = ("properties", "$defs", "patternProperties")
_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SINGLES = ("items", "additionalProperties", "not")
_NULL = {"type": "null"}
_NUMBERS = ("default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def compact(schema: Schema) -> Schema:
    """``schema`` in its compact form (a new object; the argument is left as it was)."""
    result: Schema = _walk(json.loads(json.dumps(schema)))
    defs: Schema = result.pop("$defs", {})
    uses = _ref_counts(result, defs)
    result = dict(_inline(result, defs, uses))
    shared = {name: _inline(body, defs, uses) for name, body in defs.items() if uses.get(name, 0) > 1}
    if shared:
        result["$defs"] = shared
    return result


def _walk(node: Schema) -> Schema:
    node.pop("title", None)
    for key in _MAPS:
        if isinstance(node.get(key), dict):
            node[key] = {name: _walk(child) for name, child in node[key].items()}
    for key in _LISTS:
        if isinstance(node.get(key), list):
            node[key] = [_walk(child) for child in node[key]]
    for key in _SINGLES:
        if isinstance(node.get(key), dict):
            node[key] = _walk(node[key])
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
    if "default" in node and node["default"] is None:
        del node["default"]
    for key in _NUMBERS:  # 30.0 and 30 are the same number to JSON Schema
        value = node.get(key)
        if isinstance(value, float) and value.is_integer():
            node[key] = int(value)
    if isinstance(node.get("properties"), dict):
        required = set(node.get("required", []))
        node["properties"] = {
            name: prop if name in required else _optional(prop) for name, prop in node["properties"].items()
        }
    return node


def _optional(prop: Schema) -> Schema:
    """An optional property that may be null as its plain type."""
    options = prop.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or _NULL not in options:
        return prop
    [other] = [option for option in options if option != _NULL]
    merged = {key: value for key, value in prop.items() if key != "anyOf"}
    merged.update(other)
    return merged


def _ref_counts(node: Any, defs: Schema) -> dict[str, int]:
    counts: dict[str, int] = {}

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                name = ref[len(_REF_PREFIX) :]
                counts[name] = counts.get(name, 0) + 1
                if counts[name] == 1:
                    visit(defs.get(name))
            for child in value.values():
                visit(child)
        elif isinstance(value, list):
            for child in value:
                visit(child)

    visit(node)
    return counts


def _inline(node: Any, defs: Schema, uses: dict[str, int]) -> Any:
    if isinstance(node, list):
        return [_inline(child, defs, uses) for child in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and uses.get(ref[len(_REF_PREFIX) :], 0) == 1:
        body = _inline(defs[ref[len(_REF_PREFIX) :]], defs, uses)
        return {**body, **{key: value for key, value in node.items() if key != "$ref"}}
    return {key: _inline(value, defs, uses) for key, value in node.items()}
