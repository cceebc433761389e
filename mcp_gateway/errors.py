"""Tool errors with text an agent can act on. Nothing internal (hosts, secrets, tracebacks) leaks."""

from __future__ import annotations

from fastmcp.exceptions import ToolError


class MCPUpstreamError(ToolError):
    """The data behind the tool is unavailable or stale; the message says what to do."""


class BusyError(ToolError):
    """This gateway process is at its limit of concurrent streams or tracked addresses."""


class InvalidParameter(ToolError):
    """A parameter is invalid; the message says which and why."""
