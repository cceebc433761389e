"""Compact JSON Schemas for the tool list: the same constraints in fewer bytes (every host pays for them).

:func:`compact` rewrites a pydantic JSON Schema without changing what it accepts: ``anyOf [X, null]``
becomes ``X`` with ``type: [T, "null"]``, a ``default`` of null, ``additionalProperties: true`` and every
``title`` go (they say nothing), and a ``$defs``
entry used once is put in place (entries used more often stay shared, so each shape is described once).
"""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any]
_REF_PREFIX = "#/$defs/"
_MAPS = ("properties", "$defs", "patternProperties")
_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SINGLES = ("items", "additionalProperties", "not")


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
    if "default" in node and node["default"] is None:
        del node["default"]
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
    return _nullable(node)


def _nullable(node: Schema) -> Schema:
    """``anyOf: [X, {"type": "null"}]`` as ``X`` with a null type, when X has one plain type."""
    options = node.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return node
    [other] = [option for option in options if option != {"type": "null"}]
    kind = other.get("type")
    if not isinstance(kind, str) or "anyOf" in other or "enum" in other:
        return node
    merged = {key: value for key, value in node.items() if key != "anyOf"}
    merged.update(other)
    merged["type"] = [kind, "null"]
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
    return _nullable({key: _inline(value, defs, uses) for key, value in node.items()})
