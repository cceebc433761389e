"""The track_address tool: validate addresses, lease them for upstream tracking, stream their transactions.

:func:`address_result` builds every result (the one function a transport calls); the tool only validates.
"""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

import re
from collections.abc import Sequence
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
from shared.channels import split_lease_keys
from shared.errors import BusError, InvalidAddress
from shared.events import address_topic
from shared.settings import Network

DESCRIPTION = (
    "Watch a Bitcoin address: returns its new unconfirmed transactions (mempool), transactions that "
    "confirmed in a new block (confirmed, with block height) and transactions that left the mempool "
    "unmined (removed, e.g. replaced by fee). Each transaction says how many sats the address received "
    "and sent. For a small wallet, put its other addresses in more_addresses: one call watches them all, "
    "with one result (each event names its address in 'topic' and data.address) and one cursor. While a "
    "call waits the addresses are tracked upstream; after a normal return they stay tracked for about a "
    "minute so you can call again with the returned cursor, which is how to follow a payment from mempool "
    "to confirmation. Events are pushed as progress notifications as they arrive. want=false returns the "
    "recent events at once (only addresses watched recently have any)."
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


def canonical_address(address: str, network: Network, name: str = "address") -> str:
    """The address in canonical form, or :class:`InvalidParameter` naming ``name`` and what is wrong."""
    if len(re.split(r"[,; ]+", address.strip(", ;"))) > 1:
        raise InvalidParameter(f"{name} takes one address: put the others in more_addresses")
    try:
        return validate_address(address, network).text
    except InvalidAddress as exc:
        shown = repr(address[:100]) + ("..." if len(address) > 100 else "")
        raise InvalidParameter(f"{name} {shown} {exc}") from None


def canonical_addresses(address: str, more: Sequence[str] | None, network: Network) -> list[str]:
    """The call's addresses in canonical form, duplicates dropped, the first one first."""
    addresses = [canonical_address(address, network)]
    addresses += [canonical_address(each, network, f"more_addresses[{i}]") for i, each in enumerate(more or ())]
    return list(dict.fromkeys(addresses))


async def _check_capacity(gateway: Gateway, request: StreamRequest, addresses: Sequence[str]) -> None:
    """Refuse addresses the ingestor cannot track (capacity); without a status record, admit them."""
    status = (await admit(gateway, request.network)).ingestor
    if status is None:
        return
    try:
        leased, _ = split_lease_keys(await gateway.backend.leased_addresses(request.network))
    except BusError:
        return  # the bus is away for now: the call waits for it like any other
    new = [address for address in addresses if address not in leased]
    refused = [address for address in addresses if address in status.rejected_addresses]
    if refused or (new and len(leased) + len(new) > status.address_capacity):
        gateway.metrics.busy_rejections.labels("addresses").inc()
        raise BusyError(
            f"address tracking is at capacity ({status.address_capacity} addresses on {request.network}); "
            "retry later when other watches end"
        )


async def address_result(
    gateway: Gateway, ctx: Context, request: StreamRequest, addresses: list[str]
) -> StreamResult[AddressEnvelope]:
    """The result of one track_address call (every transport builds it here): one address's topic, or
    several merged as one stream."""
    await admit(gateway, request.network)
    topics = [address_topic(address) for address in addresses]
    topic: str | list[str] = topics[0] if len(topics) == 1 else topics
    if not request.want:
        return await pull(gateway, request, topic, AddressEnvelope, none_is_an_answer=True)
    await _check_capacity(gateway, request, addresses)
    with bus_errors():
        async with gateway.leases.hold_all(request.network, addresses):
            return await wait(gateway, ctx, request, topic, AddressEnvelope)


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the track_address tool to ``mcp``."""
    settings = gateway.settings
    more_type = Annotated[
        list[str] | None,
        Field(
            description=f"Further addresses of the same wallet (at most {settings.max_addresses_per_call - 1}), "
            "watched in the same call: one result with the events of all of them in order, one cursor.",
            max_length=max(0, settings.max_addresses_per_call - 1),
        ),
    ]
    max_events_type = bounded_int(
        settings.max_events_limit, f"Most events to return (default {settings.default_max_events})."
    )
    timeout_type = bounded_seconds(
        settings.max_timeout_s,
        f"Longest wait in seconds (default {settings.default_timeout_s:g}, at most {settings.max_timeout_s:g}).",
    )

    async def track_address(
        address: AddressParam,
        more_addresses: more_type = None,
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
        addresses = canonical_addresses(address, more_addresses, request.network)  # type: ignore[arg-type]
        return await address_result(gateway, ctx, request, addresses)

    mcp.tool(
        track_address,
        name="track_address",
        title="Track an address",
        description=DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=False, open_world_hint=True),
    )
