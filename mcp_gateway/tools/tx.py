"""The track_tx tool: follow transactions from the mempool to confirmation, replacement or removal.

:func:`tx_result` builds every result (the one function a transport calls); the tool only validates.
"""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

import asyncio
import re
from collections.abc import Sequence
from typing import Annotated, Literal

from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_gateway.cursor import Cursor
from mcp_gateway.errors import BusyError, InvalidParameter
from mcp_gateway.gateway import Gateway
from mcp_gateway.models import TxEnvelope, TxStreamResult
from mcp_gateway.streams import StopWhen, current_state
from mcp_gateway.tools.common import (
    CursorParam,
    NetworkParam,
    StreamRequest,
    WantParam,
    admit,
    bounded_int,
    bounded_seconds,
    bus_errors,
    collect_or_explain,
    freshness_of,
    stream_request,
    wait,
)
from shared.channels import split_lease_keys, tx_lease_key
from shared.errors import BusError
from shared.events import TOPIC_BLOCKS, Event, tx_topic
from shared.models import TxStatus

Until = Literal["confirmed", "replaced", "any"]
SETTLED = frozenset({"confirmed", "replaced", "removed"})
"""Statuses after which a transaction will not confirm or be replaced any more (as this txid)."""
FIRST_STATUS_WAIT_S = 5.0
"""How long want=false waits for the first status of a transaction nobody tracked yet, seconds."""
_TXID = re.compile(r"[0-9a-fA-F]{64}")
EXAMPLE = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"

DESCRIPTION = (
    "Follow a Bitcoin transaction by its txid: where it sits in the projected blocks while unconfirmed "
    "(position.block_index: 0 is the next block; vsize ahead of it; effective fee rate counting CPFP "
    "children), then its confirmation (block_height, block_hash, confirmations), or its replacement "
    "(replaced_by: the txid of the fee-bumped version, RBF) or removal (left the mempool unmined), and "
    "whether it is accelerated. An event is published when one of those changes (not on every small move "
    "inside a projected block). Without a cursor the call starts with the current status. until: "
    "'confirmed' (default) returns as soon as it is confirmed, and also when it is replaced or removed "
    "(then it never will be); 'replaced' returns when it is replaced, and also when it is confirmed or "
    "removed (then it never will be); 'any' returns at the first change. With more_txids several "
    "transactions are followed in one call: one result, events of all of them in order, one cursor; it "
    "returns when any of them reaches the 'until' state. Every event is also pushed as a progress "
    "notification. While a call waits the transactions are tracked upstream, and for about a minute after "
    "a normal return, so call again with the returned cursor to keep following. want=false returns the "
    "current status at once (a transaction nobody tracked is looked up for a few seconds first); txids "
    "with no status are listed in not_seen."
)

TxidParam = Annotated[
    str,
    Field(
        description="The transaction id: 64 hexadecimal characters, as block explorers and wallets show it.",
        min_length=1,
        max_length=200,
    ),
]
UntilParam = Annotated[
    Until,
    Field(
        description="When to return: 'confirmed' (default), 'replaced', or 'any' (at the first change). "
        "A transaction that can no longer reach the state asked for returns too."
    ),
]


def canonical_txid(value: str, name: str = "txid") -> str:
    """``value`` as a txid in lower case, or :class:`InvalidParameter` naming ``name`` and what is wrong."""
    text = value.strip()
    if _TXID.fullmatch(text):
        return text.lower()
    if name == "txid" and len(re.split(r"[,; ]+", text.strip(", ;"))) > 1:
        raise InvalidParameter(f'txid takes one transaction id: put the others in more_txids, e.g. txid="{EXAMPLE}"')
    shown = repr(text[:80]) + ("..." if len(text) > 80 else "")
    raise InvalidParameter(
        f"{name} {shown} is not a transaction id: expected 64 hexadecimal characters, got {len(text)}, "
        f'e.g. txid="{EXAMPLE}"'
    )


def canonical_txids(txid: str, more: Sequence[str] | None) -> list[str]:
    """The call's txids, validated and in lower case, duplicates dropped, the first one first."""
    txids = [canonical_txid(txid)]
    txids += [canonical_txid(each, f"more_txids[{index}]") for index, each in enumerate(more or ())]
    return list(dict.fromkeys(txids))


def ends(until: Until) -> StopWhen:
    """Whether an event ends a wait for ``until``."""

    def stop(event: Event) -> bool:
        if until == "any":
            return True
        return event.data.get("status") in SETTLED

    return stop


async def _check_capacity(gateway: Gateway, request: StreamRequest, txids: Sequence[str]) -> None:
    """Refuse transactions the ingestor cannot track (capacity); without a status record, admit them."""
    status = (await admit(gateway, request.network)).ingestor
    if status is None:
        return
    if status.tx_capacity == 0:
        raise BusyError(f"transaction tracking is turned off on {request.network} (the ingestor has no tx sockets)")
    try:
        _, leased = split_lease_keys(await gateway.backend.leased_addresses(request.network))
    except BusError:
        return  # the bus is away for now: the call waits for it like any other
    new = [txid for txid in txids if txid not in leased]
    refused = [txid for txid in txids if txid in status.rejected_txids]
    if refused or (new and len(leased) + len(new) > status.tx_capacity):
        gateway.metrics.busy_rejections.labels("txs").inc()
        raise BusyError(
            f"transaction tracking is at capacity ({status.tx_capacity} transactions on {request.network}); "
            "retry later when other watches end"
        )


async def _with_depth(gateway: Gateway, network: str, envelopes: list[TxEnvelope]) -> list[TxEnvelope]:
    """``envelopes`` with the confirmations of each confirmed transaction counted at the current tip (as
    published when the bus cannot say)."""
    if not any(isinstance(envelope.data, TxStatus) and envelope.data.block_height for envelope in envelopes):
        return envelopes
    try:
        tip = await gateway.backend.latest(network, TOPIC_BLOCKS)
    except BusError:
        return envelopes
    height = tip.data.get("height") if tip is not None else None
    if not isinstance(height, int):
        return envelopes
    counted: list[TxEnvelope] = []
    for envelope in envelopes:
        data = envelope.data
        if isinstance(data, TxStatus) and data.block_height is not None and height >= data.block_height:
            depth = max(data.confirmations or 1, height - data.block_height + 1)
            counted.append(envelope.model_copy(update={"data": data.model_copy(update={"confirmations": depth})}))
        else:
            counted.append(envelope)
    return counted


async def _not_seen(gateway: Gateway, network: str, txids: Sequence[str], envelopes: Sequence[TxEnvelope]) -> list[str]:
    """The txids without any status: none among ``envelopes`` and none on the bus (when the bus cannot
    say: none among ``envelopes``)."""
    seen = {envelope.topic for envelope in envelopes if isinstance(envelope.data, TxStatus)}
    unseen = [txid for txid in txids if tx_topic(txid) not in seen]
    try:
        latest = await asyncio.gather(*(gateway.backend.latest(network, tx_topic(txid)) for txid in unseen))
    except BusError:
        return unseen
    return [txid for txid, event in zip(unseen, latest, strict=True) if event is None]


async def _pull(gateway: Gateway, request: StreamRequest, txids: list[str]) -> TxStreamResult:
    """The current status of each transaction at once; one nobody tracks yet is leased and given a few
    seconds for its first status (the ingestor reads it from the upstream's reply or over REST)."""
    availability = await admit(gateway, request.network)
    topics = [tx_topic(txid) for txid in txids]
    with bus_errors():
        position = await gateway.backend.position(request.network)
        events = await current_state(gateway, request.network, topics, position.last_id)
    cursor, gap = Cursor(position.epoch, position.last_id), False
    missing = [txid for txid in txids if tx_topic(txid) not in {event.topic for event in events}]
    if missing:
        await _check_capacity(gateway, request, missing)
        first = StreamRequest(request.network, True, len(missing), min(FIRST_STATUS_WAIT_S, request.timeout_s), cursor)
        waiting = {tx_topic(txid) for txid in missing}

        def all_seen(event: Event) -> bool:
            waiting.discard(event.topic)
            return not waiting

        async def ignore(event: Event, epoch: str, deadline: float) -> None:
            return None

        with bus_errors():
            async with gateway.tx_leases.hold_all(request.network, [tx_lease_key(txid) for txid in missing]):
                collected = await collect_or_explain(
                    gateway, first, [tx_topic(txid) for txid in missing], on_event=ignore, stop_when=all_seen
                )
        events += collected.events
        cursor, gap = collected.cursor, collected.gap
    envelopes = [TxEnvelope.model_validate(event.to_dict()) for event in events]
    counted = await _with_depth(gateway, request.network, envelopes)
    not_seen = await _not_seen(gateway, request.network, txids, counted)
    return TxStreamResult(
        network=request.network,
        topic=",".join(topics),
        events=counted,
        cursor=str(cursor),
        gap=gap,
        timed_out=False,
        freshness=freshness_of(availability),
        not_seen=not_seen,
    )


async def tx_result(
    gateway: Gateway, ctx: Context, request: StreamRequest, txids: list[str], until: Until
) -> TxStreamResult:
    """The result of one track_tx call (every transport builds it here)."""
    await admit(gateway, request.network)
    if not request.want:
        return await _pull(gateway, request, txids)
    await _check_capacity(gateway, request, txids)
    topics = [tx_topic(txid) for txid in txids]
    with bus_errors():
        async with gateway.tx_leases.hold_all(request.network, [tx_lease_key(txid) for txid in txids]):
            result = await wait(
                gateway, ctx, request, topics, TxEnvelope, stop_when=ends(until), with_current=request.cursor is None
            )
    counted = await _with_depth(gateway, request.network, list(result.events))
    not_seen = await _not_seen(gateway, request.network, txids, counted)
    return TxStreamResult(
        network=result.network,
        topic=result.topic,
        events=counted,
        cursor=result.cursor,
        gap=result.gap,
        timed_out=result.timed_out,
        freshness=result.freshness,
        not_seen=not_seen,
    )


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the track_tx tool to ``mcp``."""
    settings = gateway.settings
    more_type = Annotated[
        list[str] | None,
        Field(
            description=f"More txids to follow in the same call (at most {settings.max_txids_per_call - 1}): one "
            "result and one cursor for all of them.",
            max_length=max(0, settings.max_txids_per_call - 1),
        ),
    ]
    max_events_type = bounded_int(
        settings.max_events_limit, f"Most events to return (default {settings.default_max_events})."
    )
    timeout_type = bounded_seconds(
        settings.max_timeout_s,
        f"Longest wait in seconds (default {settings.default_timeout_s:g}, at most {settings.max_timeout_s:g}); "
        "a confirmation takes about 10 minutes per block, so wait long (e.g. 300) and call again with the cursor.",
    )

    async def track_tx(
        txid: TxidParam,
        more_txids: more_type = None,
        until: UntilParam = "confirmed",
        want: WantParam = True,
        max_events: max_events_type = None,  # type: ignore[valid-type]
        timeout_s: timeout_type = None,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        network: NetworkParam = None,
        ctx: Context = CurrentContext(),
    ) -> TxStreamResult:
        txids = canonical_txids(txid, more_txids)
        request = stream_request(
            gateway, want=want, max_events=max_events, timeout_s=timeout_s, cursor=cursor, network=network
        )
        return await tx_result(gateway, ctx, request, txids, until)

    mcp.tool(
        track_tx,
        name="track_tx",
        title="Track a transaction",
        description=DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=False, open_world_hint=True),
    )
