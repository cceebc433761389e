"""The track_address tool: validate an address, lease it for upstream tracking, stream its transactions."""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

import re
from typing import Annotated

from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_gateway.errors import BusyError, InvalidParameter
from mcp_gateway.gateway import Gateway
from mcp_gateway.models import AddressEnvelope, StreamResult
from mcp_gateway.tools.common import (
    CursorParam,
    NetworkParam,
    StreamRequest,
    WantParam,
    admit,
    bounded_int,
    bounded_seconds,
    bus_errors,
    pull,
    stream_request,
    wait,
)
from shared.bitcoin.addresses import validate_address
from shared.errors import BusError, InvalidAddress
from shared.events import address_topic
from shared.settings import Network

DESCRIPTION = (
    "Watch one Bitcoin address: returns its new unconfirmed transactions (mempool), transactions that "
    "confirmed in a new block (confirmed, with block height) and transactions that left the mempool "
    "unmined (removed, e.g. replaced by fee). Each transaction says how many sats the address received "
    "and sent. While a call waits the address is tracked upstream; after a normal return it stays "
    "tracked for about a minute so you can call again with the returned cursor, which is how to follow a "
    "payment from mempool to confirmation. Events are pushed as progress notifications as they arrive. "
    "want=false returns the address's recent events at once (only addresses watched recently have any)."
)

AddressParam = Annotated[
    str,
    Field(
        description="The address: legacy (1..., 3...; m/n/2 on test networks) or SegWit/Taproot "
        "(bc1q..., bc1p...; tb1 on test networks).",
        min_length=1,
        max_length=200,
    ),
]


def canonical_address(address: str, network: Network) -> str:
    """The address in canonical form, or :class:`InvalidParameter` saying what is wrong with it."""
    if len(re.split(r"[,; ]+", address.strip(", ;"))) > 1:
        raise InvalidParameter("track_address watches one address per call: call it once for each address")
    try:
        return validate_address(address, network).text
    except InvalidAddress as exc:
        shown = repr(address[:100]) + ("..." if len(address) > 100 else "")
        raise InvalidParameter(f"address {shown} {exc}") from None


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
    max_events_type = bounded_int(
        settings.max_events_limit, f"Most events to return (default {settings.default_max_events})."
    )
    timeout_type = bounded_seconds(
        settings.max_timeout_s,
        f"Longest wait in seconds (default {settings.default_timeout_s:g}, at most {settings.max_timeout_s:g}).",
    )

    async def track_address(
        address: AddressParam,
        want: WantParam = True,
        max_events: max_events_type = None,  # type: ignore[valid-type]
        timeout_s: timeout_type = None,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        network: NetworkParam = None,
        ctx: Context = CurrentContext(),
    ) -> StreamResult[AddressEnvelope]:
        request = stream_request(
            gateway, want=want, max_events=max_events, timeout_s=timeout_s, cursor=cursor, network=network
        )
        await admit(gateway, request.network)
        canonical = canonical_address(address, request.network)  # type: ignore[arg-type]
        topic = address_topic(canonical)
        if not request.want:
            return await pull(gateway, request, topic, AddressEnvelope, none_is_an_answer=True)
        await _check_capacity(gateway, request, canonical)
        with bus_errors():
            async with gateway.leases.hold(request.network, canonical):
                return await wait(gateway, ctx, request, topic, AddressEnvelope)

    mcp.tool(
        track_address,
        name="track_address",
        title="Track an address",
        description=DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=False, open_world_hint=True),
    )
