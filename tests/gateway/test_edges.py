"""Edges of the stream tools through fastmcp's in-memory Client (the process-level proofs are in tests/faults)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_gateway.gateway import Gateway
from mcp_gateway.server import build_server
from shared.bitcoin.addresses import segwit_encode
from shared.bus import HistoryPage, MemoryBackend
from shared.bus.base import Position
from shared.errors import BusUnavailable
from shared.models import IngestorStatus
from shared.settings import GatewaySettings
from tests.gateway.conftest import FakeFeed


class _AwayBackend(MemoryBackend):
    """An embedded bus that fails every read until ``back_at`` (``time.monotonic()``), like a restarting Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.back_at = 0.0

    def _check(self) -> None:
        if time.monotonic() < self.back_at:
            raise BusUnavailable("read: Redis at redis://127.0.0.1:1/0 is unreachable (ConnectionError)")

    async def position(self, network: str) -> Position:
        self._check()
        return await super().position(network)

    async def history(self, network: str, topic: str, after: int, limit: int) -> HistoryPage:
        self._check()
        return await super().history(network, topic, after, limit)

    async def read_status(self, network: str) -> IngestorStatus | None:
        self._check()
        return await super().read_status(network)


def sample(gateway: Gateway, name: str, labels: dict[str, str]) -> float:
    return gateway.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_waiting_call_without_any_ingestor_waits_and_returns_what_arrives(
    make_gateway: Any, feed: FakeFeed
) -> None:
    gateway, mcp = make_gateway()
    async with Client(mcp) as client:
        call = asyncio.create_task(client.call_tool("stream_stats", {"max_events": 1, "timeout_s": 5}))
        await asyncio.sleep(0.3)
        assert not call.done(), "not refused: it waits"
        event = await feed.stats(fastest=3.0)
        body = (await call).structured_content
        quiet = (await client.call_tool("stream_stats", {"timeout_s": 0.2})).structured_content
    assert body is not None and [e["id"] for e in body["events"]] == [event.id]
    assert body["freshness"]["status"] == "degraded" and "no ingestor" in body["freshness"]["reasons"][0]
    assert quiet is not None and quiet["timed_out"] and not quiet["events"]
    assert sample(gateway, "gateway_quiet_waits_total", {"reason": "no_ingestor"}) == 1


async def test_every_quiet_call_among_many_concurrent_ones_timed_out(
    gateway_client: tuple[Gateway, Client[Any]],
) -> None:
    gateway, client = gateway_client
    results = await asyncio.gather(*(client.call_tool("stream_blocks", {"timeout_s": 0.3}) for _ in range(50)))
    bodies = [result.structured_content or {} for result in results]
    assert all(body["timed_out"] and not body["events"] and not body["gap"] for body in bodies)
    assert sample(gateway, "gateway_quiet_waits_total", {"reason": "no_events"}) == 50


async def test_a_cursor_ahead_of_the_newest_event_means_from_now(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    await feed.stats(fastest=1.0)
    pulled = (await client.call_tool("stream_stats", {"want": False})).structured_content
    assert pulled is not None
    epoch, _, last = pulled["cursor"].partition(":")

    async def publish() -> None:
        await asyncio.sleep(0.2)
        await feed.stats(fastest=2.0)

    publisher = asyncio.create_task(publish())
    ahead = await client.call_tool("stream_stats", {"cursor": f"{epoch}:{int(last) + 50}", "max_events": 1})
    await publisher
    bare = await client.call_tool("stream_stats", {"cursor": str(int(last) + 500), "timeout_s": 0.2})
    body, bare_body = ahead.structured_content, bare.structured_content
    assert body is not None and not body["gap"] and len(body["events"]) == 1 and not body["timed_out"]
    assert body["cursor"] == f"{epoch}:{body['events'][0]['id']}"
    assert bare_body is not None and bare_body["gap"], "a bare id this epoch never reached is from an older one"
    assert bare_body["cursor"] == body["cursor"], "and the loop goes on from now"


async def test_progress_messages_carry_the_full_cursor_first(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async def publish() -> None:
        await asyncio.sleep(0.1)
        for n in range(3):
            await feed.stats(fastest=float(n))

    publisher = asyncio.create_task(publish())
    arguments = {"max_events": 3, "timeout_s": 5, "full": True}
    result = await client.call_tool("stream_stats", arguments, progress_handler=on_progress)
    await publisher
    body = result.structured_content
    assert body is not None
    epoch = body["cursor"].split(":")[0]
    parsed = [json.loads(message) for message in messages]
    assert [list(event)[0] for event in parsed] == ["cursor"] * 3
    assert [event["cursor"] for event in parsed] == [f"{epoch}:{event['id']}" for event in body["events"]]
    assert [event["id"] for event in parsed] == [event["id"] for event in body["events"]]
    assert [{k: v for k, v in event.items() if k != "cursor"} for event in parsed] == body["events"], (
        "then the full envelope, as the result has it with full=true"
    )


async def test_a_waiting_call_rides_out_a_bus_outage_and_one_that_never_ends_is_told() -> None:
    backend = _AwayBackend()
    feed = FakeFeed(backend)
    await feed.status()
    gateway = Gateway(GatewaySettings(), backend)
    async with Client(build_server(gateway)) as client:
        backend.back_at = time.monotonic() + 0.6
        call = asyncio.create_task(client.call_tool("stream_stats", {"max_events": 1, "timeout_s": 5}))
        await asyncio.sleep(0.3)
        health = (await client.call_tool("health", {})).structured_content
        await asyncio.sleep(1.0)  # back at 0.6 s; the call's next try comes within its 0.5 s back-off cap
        event = await feed.stats(fastest=2.0)
        body = (await call).structured_content
        backend.back_at = time.monotonic() + 60
        started = time.monotonic()
        with pytest.raises(ToolError, match="could not be read during this whole call"):
            await client.call_tool("stream_stats", {"timeout_s": 0.5})
        gave_up_after = time.monotonic() - started
        with pytest.raises(ToolError, match="unreachable from this gateway; call with want=true"):
            await client.call_tool("stream_stats", {"want": False})
    assert health is not None and health["status"] == "down" and health["bus"] == "unreachable"
    assert body is not None and [e["id"] for e in body["events"]] == [event.id]
    assert 0.5 <= gave_up_after < 1.5
    assert sample(gateway, "gateway_quiet_waits_total", {"reason": "bus_unreachable"}) == 1
    assert sample(gateway, "gateway_refusals_total", {"reason": "bus_unreachable"}) == 1


async def test_refusals_are_counted_by_reason(gateway_client: tuple[Gateway, Client[Any]]) -> None:
    gateway, client = gateway_client
    for arguments in ({"network": "testnet4"}, {"cursor": "yesterday"}, {"max_events": 0}, {"want": False}):
        with pytest.raises(ToolError):
            await client.call_tool("stream_stats", arguments)
    counted = {
        reason: sample(gateway, "gateway_refusals_total", {"reason": reason})
        for reason in ("network_not_served", "invalid_parameter", "no_data_yet")
    }
    assert counted == {"network_not_served": 1, "invalid_parameter": 2, "no_data_yet": 1}


class _HangingBackend(MemoryBackend):
    """An embedded bus whose status reads hang while ``hang`` is set, like a Redis that stopped answering."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = False

    async def read_status(self, network: str) -> IngestorStatus | None:
        while self.hang:
            await asyncio.sleep(0.01)
        return await super().read_status(network)


async def test_a_hanging_redis_holds_no_verdict_longer_than_the_patience_then_reads_unreachable() -> None:
    backend = _HangingBackend()
    gateway = Gateway(GatewaySettings(readiness_bus_timeout_s=1.5), backend)
    await backend.connect()
    first = await gateway.availability("mainnet")
    backend.hang = True
    await asyncio.sleep(0.6)  # the cached facts are stale now
    started = time.monotonic()
    again = await gateway.availability("mainnet")
    assert time.monotonic() - started < 1.0, "a caller waits at most the patience for fresher facts"
    assert again.status == first.status, "and judges the last facts read"
    await asyncio.sleep(1.5)  # the probe's own timeout has passed
    later = await gateway.availability("mainnet")
    assert later.status == "down" and any("unreachable" in reason for reason in later.reasons)
    backend.hang = False


class _SlowLeasesBackend(MemoryBackend):
    """An embedded bus whose lease reads take ``delay_s``, like a Redis far away."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    async def leased_addresses(self, network: str) -> set[str]:
        await asyncio.sleep(self.delay_s)
        return await super().leased_addresses(network)


async def test_timeout_s_covers_the_checks_before_the_wait() -> None:
    """The capacity check's lease read is slow: the call still ends at its timeout, not after it plus the read."""
    backend = _SlowLeasesBackend(delay_s=2.0)
    feed = FakeFeed(backend)
    await feed.status()
    gateway = Gateway(GatewaySettings(), backend)
    address = segwit_encode("bc", 0, bytes(range(20)))
    async with Client(build_server(gateway)) as client:
        started = time.monotonic()
        result = await client.call_tool("track_address", {"address": address, "timeout_s": 2})
        took = time.monotonic() - started
    body = result.structured_content
    assert body is not None and body["timed_out"] is True
    assert took < 3.0, f"took {took:.2f} s for timeout_s=2 (a 2 s read before the wait must count against it)"


async def test_the_network_parameter_offers_only_the_networks_served(make_gateway: Any) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, ["mainnet"]),
        ({"network": "signet", "networks": ["signet", "mainnet"]}, ["signet", "mainnet"]),
    ]
    for overrides, offered in cases:
        _, mcp = make_gateway(**overrides)
        async with Client(mcp) as client:
            tools = await client.list_tools()
        schemas = [tool.input_schema["properties"]["network"] for tool in tools]
        assert len(schemas) == 8
        assert all(schema["enum"] == offered and schema["default"] == offered[0] for schema in schemas), schemas
