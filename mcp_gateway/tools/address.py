"""The track_address tool: validate an address, lease it for upstream tracking, stream its transactions."""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

import re
from typing import Annotated

from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext
from fastmcp.tools import ToolResult
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_gateway.errors import BusyError, InvalidParameter
from mcp_gateway.gateway import Gateway
from mcp_gateway.models import AddressView, StreamResult
from mcp_gateway.tools.common import (
    CursorParam,
    FullParam,
    NetworkParam,
    StreamRequest,
    WantParam,
    admit,
    bus_errors,
    max_events_param,
    pull,
    register_tool,
    stream_request,
    timeout_param,
    wait,
)
from mcp_gateway.tools.explain import example_address
from shared.bitcoin.addresses import validate_address
from shared.errors import BusError, InvalidAddress
from shared.events import address_topic
from shared.settings import Network

DESCRIPTION = (
    "Watch one address: its new mempool, confirmed (with block_height) and removed transactions, net_sats each. "
    "To follow a payment until it confirms, call again with the result's cursor until its txid is under "
    "confirmed; the address stays tracked a minute between calls."
)

AddressParam = Annotated[
    str,
    Field(
        description="1..., 3..., bc1q..., bc1p... (m/n/2/tb1 on test networks).",
        min_length=1,
        max_length=200,
    ),
]


def canonical_address(address: str, network: Network) -> str:
    """The address in canonical form, or :class:`InvalidParameter` saying what is wrong with it."""
    if len(re.split(r"[,; ]+", address.strip(", ;"))) > 1:
        raise InvalidParameter(
            "track_address watches one address per call: call it once for each address, "
            f'e.g. address="{example_address(network)}"'
        )
    try:
        return validate_address(address, network).text
    except InvalidAddress as exc:
        shown = repr(address[:100]) + ("..." if len(address) > 100 else "")
        raise InvalidParameter(
            f'address {shown} {exc}; give one {network} address, e.g. address="{example_address(network)}"'
        ) from None


async def _check_capacity(gateway: Gateway, request: StreamRequest, address: str) -> None:
    """Refuse an address the ingestor cannot track (capacity); without a status record, admit it."""
    status = (await admit(gateway, request.network)).ingestor
    if status is None:
        return
    try:
        leased = await gateway.backend.leased_addresses(request.network)
    except BusError:
        return  # the bus is away for now: the call waits for it like any other
    if address in status.rejected_addresses or (address not in leased and len(leased) >= status.address_capacity):
        gateway.metrics.busy_rejections.labels("addresses").inc()
        raise BusyError(
            f"address tracking is at capacity ({status.address_capacity} addresses on {request.network}); "
            "retry later when other watches end"
        )


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the track_address tool to ``mcp``."""
    settings = gateway.settings
    max_events_type = max_events_param(settings)
    timeout_type = timeout_param(settings)

    async def track_address(
        address: AddressParam,
        want: WantParam = True,
        max_events: max_events_type = None,  # type: ignore[valid-type]
        timeout_s: timeout_type = settings.default_timeout_s,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        full: FullParam = False,
        network: NetworkParam = settings.network,
        ctx: Context = CurrentContext(),
    ) -> ToolResult:
        request = stream_request(
            gateway,
            want=want,
            max_events=max_events,
            timeout_s=timeout_s,
            cursor=cursor,
            network=network,
            full=full,
        )
        await admit(gateway, request.network)
        canonical = canonical_address(address, request.network)  # type: ignore[arg-type]
        topic = address_topic(canonical)
        if not request.want:
            return await pull(gateway, request, topic, none_is_an_answer=True)
        await _check_capacity(gateway, request, canonical)
        with bus_errors():
            async with gateway.leases.hold(request.network, canonical):
                return await wait(gateway, ctx, request, topic)

    register_tool(
        mcp,
        track_address,
        name="track_address",
        title="Track an address",
        description=DESCRIPTION,
        result=StreamResult[AddressView],
        annotations=ToolAnnotations(read_only_hint=True),
    )
