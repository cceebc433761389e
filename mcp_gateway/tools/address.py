"""The track_address tool: validate addresses, lease them for upstream tracking, stream their transactions.

:func:`address_result` builds every result (the one function a transport calls); the tool only validates.
"""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

import re
from collections.abc import Sequence
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
    within_deadline,
)
from mcp_gateway.tools.explain import example_address
from shared.bitcoin.addresses import validate_address
from shared.channels import split_lease_keys
from shared.errors import InvalidAddress
from shared.events import address_topic
from shared.settings import Network

DESCRIPTION = (
    "New mempool, confirmed (with block_height) and removed transactions of an address (a wallet: add "
    "more_addresses), net_sats each. Call again with the result's cursor until the payment's txid is under "
    "confirmed; addresses stay tracked a minute between calls."
)

AddressParam = Annotated[
    str,
    Field(
        description="1..., 3..., bc1q..., bc1p... (m/n/2/tb1 on test networks).",
        min_length=1,
        max_length=200,
    ),
]


def canonical_address(address: str, network: Network, name: str = "address") -> str:
    """The address in canonical form, or :class:`InvalidParameter` naming ``name`` and what is wrong."""
    if len(re.split(r"[,; ]+", address.strip(", ;"))) > 1:
        raise InvalidParameter(
            f"{name} takes one address: put the others in more_addresses, "
            f'e.g. more_addresses=["{example_address(network)}"]'
        )
    try:
        return validate_address(address, network).text
    except InvalidAddress as exc:
        shown = repr(address[:100]) + ("..." if len(address) > 100 else "")
        raise InvalidParameter(
            f'{name} {shown} {exc}; give one {network} address, e.g. address="{example_address(network)}"'
        ) from None


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
    keys = await within_deadline(request, gateway.backend.leased_addresses(request.network), None)
    if keys is None:
        return  # the bus is away or slow for now: the call waits for it like any other
    leased, _ = split_lease_keys(keys)
    new = [address for address in addresses if address not in leased]
    refused = [address for address in addresses if address in status.rejected_addresses]
    if refused or (new and len(leased) + len(new) > status.address_capacity):
        gateway.metrics.busy_rejections.labels("addresses").inc()
        raise BusyError(
            f"address tracking is at capacity ({status.address_capacity} addresses on {request.network}); "
            "retry later when other watches end"
        )


async def address_result(gateway: Gateway, ctx: Context, request: StreamRequest, addresses: list[str]) -> ToolResult:
    """THE result of one track_address call: one address's topic, or several merged as one stream."""
    await admit(gateway, request.network)
    topics = [address_topic(address) for address in addresses]
    topic: str | list[str] = topics[0] if len(topics) == 1 else topics
    if not request.want:
        return await pull(gateway, request, topic, none_is_an_answer=True)
    await _check_capacity(gateway, request, addresses)
    with bus_errors():
        async with gateway.leases.hold_all(request.network, addresses):
            return await wait(gateway, ctx, request, topic)


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the track_address tool to ``mcp``."""
    settings = gateway.settings
    max_events_type = max_events_param(settings)
    timeout_type = timeout_param(settings)
    more_type = Annotated[
        list[str] | None,
        Field(max_length=max(0, settings.max_addresses_per_call - 1)),
    ]

    async def track_address(
        address: AddressParam,
        more_addresses: more_type = None,
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
        addresses = canonical_addresses(address, more_addresses, request.network)  # type: ignore[arg-type]
        return await address_result(gateway, ctx, request, addresses)

    register_tool(
        mcp,
        track_address,
        name="track_address",
        title="Track an address",
        description=DESCRIPTION,
        result=StreamResult[AddressView],
        annotations=ToolAnnotations(read_only_hint=True),
        networks=gateway.settings.served_networks,
    )
