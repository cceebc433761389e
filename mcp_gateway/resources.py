"""MCP resources: the latest snapshot of every topic, and the recent events of an address or transaction.

URIs: ``mempool://{network}/{topic}`` (topic: blocks, mempool-blocks, stats, live-2h-chart),
``mempool://{network}/address/{address}`` and ``mempool://{network}/tx/{txid}``. Reads come from the
bus, so any replica answers the same; reading tracks nothing (track_address and track_tx do).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastmcp import FastMCP
from fastmcp.exceptions import ResourceError

from mcp_gateway.availability import Availability, bus_failure_message, bus_state, no_data_message
from mcp_gateway.gateway import Gateway
from shared.bitcoin.addresses import validate_address
from shared.errors import BusError, InvalidAddress
from shared.events import STREAM_TOPICS, address_topic, tx_topic
from shared.settings import NETWORKS

log = logging.getLogger(__name__)

SCHEME = "mempool"
ADDRESS_RECENT_EVENTS = 20
TX_RECENT_EVENTS = 20
_URI = re.compile(
    r"^mempool://(?P<network>[a-z0-9]+)/"
    r"(?:address/(?P<address>[^/]+)|tx/(?P<txid>[^/]+)|(?P<topic>[a-z0-9-]+))$"
)
_TXID = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class ResourceTarget:
    """What a resource URI points at."""

    network: str
    topic: str


def topic_uri(network: str, topic: str) -> str:
    """The URI of a topic's latest snapshot."""
    return f"{SCHEME}://{network}/{topic}"


def address_uri(network: str, address: str) -> str:
    """The URI of an address's recent events."""
    return f"{SCHEME}://{network}/address/{address}"


def tx_uri(network: str, txid: str) -> str:
    """The URI of a transaction's recent events."""
    return f"{SCHEME}://{network}/tx/{txid}"


def parse_uri(uri: str) -> ResourceTarget | None:
    """The network and topic behind a resource URI, or None when it names nothing we serve."""
    match = _URI.match(uri)
    if match is None or match.group("network") not in NETWORKS:
        return None
    network = match.group("network")
    if match.group("address") is not None:
        try:
            canonical = validate_address(match.group("address"), network)  # type: ignore[arg-type]
        except InvalidAddress:
            return None
        return ResourceTarget(network, address_topic(canonical.text))
    txid = match.group("txid")
    if txid is not None:
        return ResourceTarget(network, tx_topic(txid.lower())) if _TXID.fullmatch(txid) else None
    topic = match.group("topic")
    return ResourceTarget(network, topic) if topic in STREAM_TOPICS else None


def _refused(uri: str, message: str, level: int = logging.INFO) -> ResourceError:
    """A resource error with a clear message, logged here in one line (the caller's mistake or a known state)."""
    log.log(level, "resource %r refused: %s", uri, message)
    return ResourceError(message, log_level=logging.DEBUG)


async def _served(gateway: Gateway, network: str, uri: str) -> Availability:
    availability = await gateway.availability(network)
    refusal = availability.refusal()
    if refusal is not None:
        raise _refused(uri, refusal)
    return availability


def _bus_failure(uri: str, error: BusError) -> ResourceError:
    return _refused(uri, bus_failure_message(bus_state(error)), logging.WARNING)


async def _latest_json(gateway: Gateway, network: str, topic: str) -> str:
    uri = topic_uri(network, topic)
    availability = await _served(gateway, network, uri)
    try:
        event = await gateway.backend.latest(network, topic)
    except BusError as exc:
        raise _bus_failure(uri, exc) from None
    if event is None:
        raise _refused(uri, no_data_message(availability, topic))
    return event.raw


def _snapshot_reader(gateway: Gateway, network: str, topic: str) -> Callable[[], Awaitable[str]]:
    async def read() -> str:
        return await _latest_json(gateway, network, topic)

    return read


def register(mcp: FastMCP, gateway: Gateway) -> None:
    """Add the snapshot resources and templates to ``mcp``."""
    default = gateway.settings.network
    for topic in STREAM_TOPICS:
        mcp.resource(
            topic_uri(default, topic),
            name=f"{topic}-latest",
            description=f"Latest {topic} event (JSON envelope) on {default}.",
            mime_type="application/json",
        )(_snapshot_reader(gateway, default, topic))

    @mcp.resource(
        "mempool://{network}/{topic}",
        name="topic-latest",
        description="Latest event (JSON envelope) of a topic: blocks, mempool-blocks, stats or live-2h-chart.",
        mime_type="application/json",
    )
    async def read_topic(network: str, topic: str) -> str:
        uri = topic_uri(network, topic)
        target = parse_uri(uri)
        if target is None:
            raise _refused(uri, f"unknown network or topic; topics are {', '.join(STREAM_TOPICS)}")
        return await _latest_json(gateway, target.network, target.topic)

    @mcp.resource(
        "mempool://{network}/address/{address}",
        name="address-recent",
        description="Recent events (JSON array of envelopes, oldest first) of an address watched recently.",
        mime_type="application/json",
    )
    async def read_address(network: str, address: str) -> str:
        uri = address_uri(network, address)
        target = parse_uri(uri)
        if target is None:
            raise _refused(uri[:200], "invalid network or address")
        return await _recent_json(gateway, target, uri, ADDRESS_RECENT_EVENTS)

    @mcp.resource(
        "mempool://{network}/tx/{txid}",
        name="tx-recent",
        description="Recent events (JSON array of envelopes, oldest first) of a transaction tracked recently "
        "with track_tx: its mempool position, confirmation, replacement or removal; the last one is its status.",
        mime_type="application/json",
    )
    async def read_tx(network: str, txid: str) -> str:
        uri = tx_uri(network, txid)
        target = parse_uri(uri)
        if target is None:
            raise _refused(uri[:200], "invalid network or txid (64 hexadecimal characters)")
        return await _recent_json(gateway, target, uri, TX_RECENT_EVENTS)


async def _recent_json(gateway: Gateway, target: ResourceTarget, uri: str, limit: int) -> str:
    await _served(gateway, target.network, uri)
    try:
        events = await gateway.backend.recent(target.network, target.topic, limit)
    except BusError as exc:
        raise _bus_failure(uri, exc) from None
    return "[" + ",".join(event.raw for event in events) + "]"
