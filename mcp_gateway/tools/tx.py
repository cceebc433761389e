"""The track_tx tool: follow transactions from the mempool to confirmation, replacement or removal.

:func:`tx_result` builds every result (the one function a transport calls); the tool only validates.
A result is a stream result (:func:`~mcp_gateway.tools.common.stream_content`) whose confirmations are
counted at the current tip, plus ``not_seen``: the txids with no status at all.
"""

# Annotations are evaluated at definition time on purpose: parameter bounds come from the settings.

import asyncio
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext
from fastmcp.tools import ToolResult
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_gateway.availability import Availability
from mcp_gateway.cursor import Cursor
from mcp_gateway.errors import BusyError, InvalidParameter
from mcp_gateway.gateway import Gateway
from mcp_gateway.models import TxStreamResult
from mcp_gateway.streams import StopWhen, current_state
from mcp_gateway.tools.common import (
    CursorParam,
    FullParam,
    NetworkParam,
    StreamRequest,
    WantParam,
    admit,
    bus_errors,
    collect_or_explain,
    collect_waiting,
    max_events_param,
    register_tool,
    stream_content,
    stream_request,
    stream_summary,
    text_result,
    timeout_param,
    within_deadline,
)
from shared.channels import split_lease_keys, tx_lease_key
from shared.events import TOPIC_BLOCKS, Event, tx_topic

Until = Literal["confirmed", "replaced", "any"]
SETTLED = frozenset({"confirmed", "replaced", "removed"})
"""Statuses after which a transaction will not confirm or be replaced any more (as this txid)."""
FIRST_STATUS_WAIT_S = 5.0
"""How long want=false waits for the first status of a transaction nobody tracked yet, seconds."""
_TXID = re.compile(r"[0-9a-fA-F]{64}")
EXAMPLE = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"

DESCRIPTION = (
    "Follow a transaction: projected block while unconfirmed, then confirmation, replacement (replaced_by) or "
    "removal. Starts with its current status; until='confirmed' or 'replaced' returns once settled, 'any' at "
    "the next change. Loop with the cursor."
)

TxidParam = Annotated[str, Field(description="64 hex characters.", max_length=200)]


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
    keys = await within_deadline(request, gateway.backend.leased_addresses(request.network), None)
    if keys is None:
        return  # the bus is away or slow for now: the call waits for it like any other
    _, leased = split_lease_keys(keys)
    new = [txid for txid in txids if txid not in leased]
    refused = [txid for txid in txids if txid in status.rejected_txids]
    if refused or (new and len(leased) + len(new) > status.tx_capacity):
        gateway.metrics.busy_rejections.labels("txs").inc()
        raise BusyError(
            f"transaction tracking is at capacity ({status.tx_capacity} transactions on {request.network}); "
            "retry later when other watches end"
        )


async def _tip_height(gateway: Gateway, request: StreamRequest) -> int | None:
    tip = await within_deadline(request, gateway.backend.latest(request.network, TOPIC_BLOCKS), None)
    height = tip.data.get("height") if tip is not None else None
    return height if isinstance(height, int) else None


def _with_depth(items: list[dict[str, Any]], tip: int | None) -> list[dict[str, Any]]:
    """Result items with each confirmation's confirmations counted at ``tip`` (items are shared: copied)."""
    if tip is None:
        return items
    counted: list[dict[str, Any]] = []
    for item in items:
        data = item["data"]
        height = data.get("block_height")
        if isinstance(height, int) and tip >= height:
            depth = max(data.get("confirmations") or 1, tip - height + 1)
            item = {**item, "data": {**data, "confirmations": depth}}  # noqa: PLW2901
        counted.append(item)
    return counted


async def _not_seen(
    gateway: Gateway, request: StreamRequest, txids: Sequence[str], events: Sequence[Event]
) -> list[str]:
    """The txids without any status: none among ``events`` and none on the bus (when the bus cannot say
    in time: none among ``events``)."""
    seen = {event.topic for event in events if "gap" not in event.data}
    unseen = [txid for txid in txids if tx_topic(txid) not in seen]
    reads = asyncio.gather(*(gateway.backend.latest(request.network, tx_topic(txid)) for txid in unseen))
    latest: list[Event | None] = await within_deadline(request, reads, [None] * len(unseen))
    return [txid for txid, event in zip(unseen, latest, strict=True) if event is None]


async def _result(
    gateway: Gateway,
    request: StreamRequest,
    txids: list[str],
    events: list[Event],
    *,
    cursor: Cursor,
    gap: bool,
    timed_out: bool,
    availability: Availability,
) -> ToolResult:
    topics = [tx_topic(txid) for txid in txids]
    structured = stream_content(
        request, topics, events, cursor=cursor, gap=gap, timed_out=timed_out, availability=availability
    )
    structured["events"] = _with_depth(structured["events"], await _tip_height(gateway, request))
    summary = stream_summary(request, topics, structured["events"], structured)
    not_seen = await _not_seen(gateway, request, txids, events)
    if not_seen:
        structured["not_seen"] = not_seen
        summary += f"; not in the mempool and not known confirmed: {len(not_seen)} of {len(txids)} (see not_seen)"
    return text_result(summary, structured)


async def _pull(gateway: Gateway, request: StreamRequest, txids: list[str]) -> ToolResult:
    """The current status of each transaction at once; one nobody tracks yet is leased and given a few
    seconds for its first status (the ingestor reads it from the upstream's reply or over REST)."""
    availability = await admit(gateway, request.network)
    topics = [tx_topic(txid) for txid in txids]
    with bus_errors():
        position = await gateway.backend.position(request.network)
        events = await current_state(gateway, request.network, topics, position.last_id)
    cursor, gap = Cursor(position.epoch, position.last_id), False
    known = {event.topic for event in events}
    missing = [txid for txid in txids if tx_topic(txid) not in known]
    if missing:
        await _check_capacity(gateway, request, missing)
        wait_s = min(FIRST_STATUS_WAIT_S, request.timeout_s)
        first = StreamRequest(request.network, True, len(missing), wait_s, cursor)
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
    return await _result(
        gateway, request, txids, events, cursor=cursor, gap=gap, timed_out=False, availability=availability
    )


async def tx_result(
    gateway: Gateway, ctx: Context, request: StreamRequest, txids: list[str], until: Until
) -> ToolResult:
    """THE result of one track_tx call (every transport builds it here)."""
    await admit(gateway, request.network)
    if not request.want:
        return await _pull(gateway, request, txids)
    await _check_capacity(gateway, request, txids)
    topics = [tx_topic(txid) for txid in txids]
    with bus_errors():
        async with gateway.tx_leases.hold_all(request.network, [tx_lease_key(txid) for txid in txids]):
            collected, availability = await collect_waiting(
                gateway, ctx, request, topics, stop_when=ends(until), with_current=request.cursor is None
            )
    return await _result(
        gateway,
        request,
        txids,
        collected.events,
        cursor=collected.cursor,
        gap=collected.gap,
        timed_out=collected.timed_out,
        availability=availability,
    )


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the track_tx tool to ``mcp``."""
    settings = gateway.settings
    max_events_type = max_events_param(settings)
    timeout_type = timeout_param(settings)
    more_type = Annotated[
        list[str] | None,
        Field(max_length=max(0, settings.max_txids_per_call - 1)),
    ]

    async def track_tx(
        txid: TxidParam,
        more_txids: more_type = None,
        until: Until = "confirmed",
        want: WantParam = True,
        max_events: max_events_type = None,  # type: ignore[valid-type]
        timeout_s: timeout_type = settings.default_timeout_s,  # type: ignore[valid-type]
        cursor: CursorParam = None,
        full: FullParam = False,
        network: NetworkParam = settings.network,
        ctx: Context = CurrentContext(),
    ) -> ToolResult:
        txids = canonical_txids(txid, more_txids)
        request = stream_request(
            gateway,
            want=want,
            max_events=max_events,
            timeout_s=timeout_s,
            cursor=cursor,
            network=network,
            full=full,
        )
        return await tx_result(gateway, ctx, request, txids, until)

    register_tool(
        mcp,
        track_tx,
        name="track_tx",
        title="Track a transaction",
        description=DESCRIPTION,
        result=TxStreamResult,
        annotations=ToolAnnotations(read_only_hint=True),
        networks=gateway.settings.served_networks,
    )
