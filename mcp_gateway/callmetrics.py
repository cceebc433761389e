"""Counting and timing one tool call: the same figures whichever path served it (FastMCP or the fast path)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from fastmcp.exceptions import NotFoundError, ToolError, ValidationError

from mcp_gateway.metrics import GatewayMetrics


@contextlib.contextmanager
def counted_call(metrics: GatewayMetrics, tool: str) -> Iterator[None]:
    """Count the call in the block by tool and outcome, and time it.

    Outcomes: ``ok``; ``tool_error`` for a refusal with a clear message (a ``ToolError``, an invalid
    argument, an unknown tool), whose ``refusal`` reason (if any) is counted too; ``cancelled``;
    ``error`` for anything else.
    """
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except (ToolError, ValidationError, NotFoundError) as exc:  # refused with a clear message, not a failure
        outcome = "tool_error"
        refusal = "invalid_parameter" if isinstance(exc, ValidationError) else getattr(exc, "refusal", None)
        if refusal is not None:
            metrics.refusals.labels(refusal).inc()
        raise
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        metrics.tool_calls.labels(tool, outcome).inc()
        metrics.tool_duration.labels(tool).observe(time.perf_counter() - started)
