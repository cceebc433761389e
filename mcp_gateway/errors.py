"""Tool errors with text an agent can act on. Nothing internal (hosts, secrets, tracebacks) leaks."""

from __future__ import annotations

import logging

from fastmcp.exceptions import ToolError


class MCPUpstreamError(ToolError):
    """The data behind the tool is unavailable or stale; the message says what to do."""

    def __init__(self, *args: object, log_level: int = logging.WARNING) -> None:
        super().__init__(*args, log_level=log_level)


class BusyError(ToolError):
    """This gateway process is at its limit of concurrent streams or tracked addresses."""

    def __init__(self, *args: object, log_level: int = logging.WARNING) -> None:
        super().__init__(*args, log_level=log_level)


class InvalidParameter(ToolError):
    """A parameter is invalid; the message says which and why (the caller's mistake: logged at INFO)."""

    def __init__(self, *args: object, log_level: int = logging.INFO) -> None:
        super().__init__(*args, log_level=log_level)
