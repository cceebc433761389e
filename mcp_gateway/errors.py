"""Tool errors with text an agent can act on. Nothing internal (hosts, secrets, tracebacks) leaks.

Each says in one sentence what happened and what to do instead; ``refusal`` names the reason in the
``gateway_refusals_total`` metric when the call is turned away at once (None for errors after a wait).
"""

from __future__ import annotations

import logging

from fastmcp.exceptions import ToolError


class GatewayToolError(ToolError):
    """A tool error of this gateway."""

    refusal: str | None = None
    level: int = logging.WARNING

    def __init__(self, *args: object, refusal: str | None = None) -> None:
        super().__init__(*args, log_level=self.level)
        if refusal is not None:
            self.refusal = refusal


class MCPUpstreamError(GatewayToolError):
    """The data behind the tool cannot be read now (the bus is unreachable); the message says what to do."""


class BusyError(GatewayToolError):
    """This gateway process is at its limit of concurrent streams or tracked addresses."""

    refusal = "busy"


class InvalidParameter(GatewayToolError):
    """A parameter is invalid; the message says which and why (the caller's mistake: logged at INFO)."""

    refusal = "invalid_parameter"
    level = logging.INFO


class NetworkNotServed(GatewayToolError):
    """This deployment does not serve the network asked for; the message names the ones it serves."""

    refusal = "network_not_served"
    level = logging.INFO


class NoDataYet(GatewayToolError):
    """A pull found no event yet; the message says why and when or how to get one."""

    refusal = "no_data_yet"
    level = logging.INFO
