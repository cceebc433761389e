"""Validation errors an agent can act on: one plain sentence naming the parameter, its limit and an example.

FastMCP reports a bad argument as pydantic's multi-line text (error codes, input types, a documentation
URL). :class:`PlainValidationErrors` turns it into one sentence built from the tool's input schema, so a
new tool or parameter needs nothing here:

* ``max_events must be a whole number from 1 to 500 (got 0), e.g. max_events=10.``
* ``metric is required: one of mempool_vsize_mb, ..., e.g. metric="mempool_vsize_mb".``
* ``want is not a parameter of health; it takes network, e.g. network="mainnet".``

The gateway's own refusals of bad input (:class:`~mcp_gateway.errors.InvalidParameter`) follow the same
form: what is wrong with which parameter, then a valid example.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types
from fastmcp.exceptions import ValidationError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from pydantic import ValidationError as PydanticValidationError

from shared.bitcoin.addresses import NETWORK_PARAMS, segwit_encode
from shared.settings import Network

Schema = dict[str, Any]
MISSING = frozenset({"missing", "missing_argument"})
UNKNOWN = frozenset({"unexpected_keyword_argument", "extra_forbidden"})


def example_address(network: Network) -> str:
    """A valid address of ``network`` to show in an error."""
    return segwit_encode(NETWORK_PARAMS[network].hrp, 0, bytes(range(20)))


CURSOR_EXAMPLE = "a1b2c3d4:1234"
EXAMPLES: dict[str, Any] = {"cursor": CURSOR_EXAMPLE, "address": example_address("mainnet"), "above": 300, "below": 2}
"""Examples for parameters whose schema cannot suggest one (free text, unbounded numbers)."""


def _types(prop: Schema) -> list[str]:
    kind = prop.get("type", [])
    return [kind] if isinstance(kind, str) else [item for item in kind if item != "null"]


def requirement(prop: Schema) -> str:
    """What a parameter accepts, in words, from its schema."""
    if "enum" in prop:
        return "one of " + ", ".join(str(value) for value in prop["enum"] if value is not None)
    kinds = _types(prop)
    if "boolean" in kinds:
        return "true or false"
    if "integer" in kinds or "number" in kinds:
        return _numeric(prop, whole="integer" in kinds)
    if "string" in kinds:
        low, high = prop.get("minLength"), prop.get("maxLength")
        if low and high:
            return f"text of {low} to {high} characters"
        return f"text of at most {high} characters" if high else "text"
    return "valid"


def _numeric(prop: Schema, *, whole: bool) -> str:
    noun = "a whole number" if whole else "a number"
    low = prop.get("minimum")
    above = prop.get("exclusiveMinimum")
    high = prop.get("maximum")
    if low is not None and high is not None:
        return f"{noun} from {_num(low)} to {_num(high)}"
    bounds = []
    if above is not None:
        bounds.append(f"above {_num(above)}")
    elif low is not None:
        bounds.append(f"at least {_num(low)}")
    if high is not None:
        bounds.append(f"at most {_num(high)}")
    return f"{noun} {' and '.join(bounds)}".strip()


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def example(name: str, prop: Schema) -> Any:
    """A valid value of a parameter: its default, a known example, or one inside its bounds."""
    if prop.get("default") is not None:
        return prop["default"]
    if name in EXAMPLES:
        return EXAMPLES[name]
    if prop.get("enum"):
        return next(value for value in prop["enum"] if value is not None)
    kinds = _types(prop)
    if "boolean" in kinds:
        return False
    if "integer" in kinds or "number" in kinds:
        low = prop.get("minimum", prop.get("exclusiveMinimum", 0))
        value = max(low, min(prop.get("maximum", 10), 10))
        return int(value) if "integer" in kinds else value
    return "..."


def assignment(name: str, value: Any) -> str:
    """``name=value`` with the value as JSON (``timeout_s=30``, ``network="mainnet"``, ``want=false``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{name}={json.dumps(value)}"


def shown(value: Any) -> str:
    """A caller's value, briefly."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def problem(tool: str, detail: Any, schema: Schema) -> str:
    """One problem of a call, in words."""
    properties: Schema = schema.get("properties", {})
    loc = detail.get("loc") or ("arguments",)
    name = str(loc[0])
    kind = detail.get("type", "")
    if kind in UNKNOWN:
        accepted = ", ".join(properties) or "no parameters"
        hint = next(((param, prop) for param, prop in properties.items() if param in schema.get("required", [])), None)
        hint = hint or next(iter(properties.items()), None)
        tail = f", e.g. {assignment(hint[0], example(*hint))}" if hint else ""
        return f"{name} is not a parameter of {tool}; it takes {accepted}{tail}"
    prop = properties.get(name, {})
    valid = assignment(name, example(name, prop))
    if kind in MISSING:
        return f"{name} is required: {requirement(prop)}, e.g. {valid}"
    return f"{name} must be {requirement(prop)} (got {shown(detail.get('input'))}), e.g. {valid}"


def explain(tool: str, error: PydanticValidationError, schema: Schema) -> str:
    """A call's validation errors as one plain sentence."""
    problems = [problem(tool, detail, schema) for detail in error.errors(include_url=False)]
    return "; ".join(dict.fromkeys(problems)) + "."


class PlainValidationErrors(Middleware):
    """Replaces pydantic's text of a rejected tool call with :func:`explain`'s sentence."""

    async def on_call_tool(
        self,
        context: MiddlewareContext[mcp_types.CallToolRequestParams],
        call_next: CallNext[mcp_types.CallToolRequestParams, Any],
    ) -> Any:
        try:
            return await call_next(context)
        except ValidationError as exc:
            cause = exc.__cause__
            if not isinstance(cause, PydanticValidationError) or context.fastmcp_context is None:
                raise
            name = context.message.name
            tool = await context.fastmcp_context.fastmcp.get_tool(name)
            schema = tool.parameters if tool is not None else {}
            raise ValidationError(explain(name, cause, schema)) from None
