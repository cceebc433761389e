"""The gateway's performance shortcuts behave exactly like the slow paths they replace."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import anyio
import mcp_types
import pytest
from fastmcp import Client, FastMCP
from mcp_types import JSONRPCNotification

from mcp_gateway import sdk
from mcp_gateway.gateway import Gateway
from mcp_gateway.tools import progress
from shared.bus import MemoryBackend
from shared.errors import BusUnavailable
from shared.http_server import HttpServer, bind_socket
from shared.models import IngestorStatus
from shared.settings import GatewaySettings
from tests.gateway.conftest import FakeFeed

MESSAGE = json.dumps({"v": 1, "id": "7", "network": "mainnet", "topic": "stats", "ts_ms": 1, "data": {"x": 'é"\\'}})


def _sdk_frame(token: str | int, value: int, message: str) -> bytes:
    """What ``ctx.report_progress`` puts on a modern SSE stream, built with the SDK's own models."""
    notification = mcp_types.ProgressNotification(
        params=mcp_types.ProgressNotificationParams(progress_token=token, progress=value, total=None, message=message)
    )
    data = notification.model_dump(by_alias=True, mode="json", exclude_none=True)
    return sdk.sse_frame(JSONRPCNotification(jsonrpc="2.0", method=data["method"], params=data["params"]))


@pytest.mark.parametrize("token", ["p1", 42])
async def test_direct_progress_frames_are_byte_identical_to_the_sdk(token: str | int) -> None:
    sink, frames = anyio.create_memory_object_stream[bytes](0)  # unbuffered, like the SDK's
    send = progress.direct_progress(sdk.context_on_exchange(token, sink))
    assert send is not None
    received: list[bytes] = []

    async def response_loop() -> None:
        await anyio.sleep(0.05)
        async for frame in frames:
            received.append(frame)

    async with anyio.create_task_group() as group:
        group.start_soon(response_loop)
        await send(1, MESSAGE, time.monotonic() + 5)  # the loop is not receiving yet: the send waits
        await anyio.sleep(0.01)
        await send(12, MESSAGE, time.monotonic() + 5)  # the loop is waiting: handed over at once
        await sink.aclose()
    assert received == [_sdk_frame(token, 1, MESSAGE), _sdk_frame(token, 12, MESSAGE)]


async def test_direct_progress_gives_up_at_the_deadline_when_nobody_reads() -> None:
    sink, frames = anyio.create_memory_object_stream[bytes](0)
    send = progress.direct_progress(sdk.context_on_exchange("p1", sink))
    assert send is not None
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await send(1, MESSAGE, started + 0.1)
    assert 0.09 < time.monotonic() - started < 1.0
    frames.close()
    sink.close()


def test_direct_progress_keeps_the_sdk_path_without_a_modern_stream() -> None:
    assert progress.direct_progress(object()) is None  # type: ignore[arg-type]
    assert progress.direct_progress(sdk.context_on_exchange("p1", None)) is None


async def test_tool_input_schemas_match_the_tool_list(
    make_gateway: Callable[..., tuple[Gateway, FastMCP]], feed: FakeFeed
) -> None:
    await feed.status()
    _, mcp = make_gateway()
    async with Client(mcp) as client:
        tools = await client.list_tools()
        lookup = sdk.input_schema_lookup(mcp)
        assert lookup is not None
        assert {tool.name: lookup(tool.name) for tool in tools} == {tool.name: tool.input_schema for tool in tools}
        assert lookup("no_such_tool") is None


class _CountingBackend(MemoryBackend):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.reads = 0
        self.fail = fail

    async def read_status(self, network: str) -> IngestorStatus | None:
        self.reads += 1
        await asyncio.sleep(0.05)
        if self.fail:
            raise BusUnavailable("read status: Redis is unreachable")
        return await super().read_status(network)


async def test_a_burst_of_calls_shares_one_probe_of_the_facts() -> None:
    backend = _CountingBackend()
    await FakeFeed(backend).status()
    gateway = Gateway(GatewaySettings(), backend)
    verdicts = await asyncio.gather(*(gateway.availability("mainnet") for _ in range(50)))
    assert backend.reads == 1
    assert all(v.ingestor is not None and v.ingestor.holder == "fake-ingestor" for v in verdicts)
    await gateway.availability("mainnet")
    assert backend.reads == 1, "fresh facts are reused"


async def test_a_failed_shared_probe_reaches_every_caller_as_a_fact() -> None:
    backend = _CountingBackend(fail=True)
    gateway = Gateway(GatewaySettings(), backend)
    verdicts = await asyncio.gather(*(gateway.availability("mainnet") for _ in range(5)))
    assert backend.reads == 1
    assert all(v.status == "down" and v.bus == "unreachable" and not v.ready for v in verdicts)


async def test_a_cancelled_caller_does_not_cancel_the_shared_probe() -> None:
    backend = _CountingBackend()
    await FakeFeed(backend).status()
    gateway = Gateway(GatewaySettings(), backend)
    first = asyncio.create_task(gateway.availability("mainnet"))
    second = asyncio.create_task(gateway.availability("mainnet"))
    await asyncio.sleep(0.01)
    first.cancel()
    verdict = await second
    assert verdict.ingestor is not None and backend.reads == 1


async def test_an_unserved_network_is_judged_without_asking_the_bus() -> None:
    backend = _CountingBackend()
    gateway = Gateway(GatewaySettings(), backend)
    verdict = await gateway.availability("testnet4")
    assert backend.reads == 0 and verdict.status == "down" and verdict.refusal() is not None


def test_accepted_http_sockets_are_tcp_so_asyncio_disables_nagle() -> None:
    listener = bind_socket("127.0.0.1", 0)
    client = socket.create_connection(listener.getsockname()[:2])
    try:
        listener.setblocking(True)
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.proto == socket.IPPROTO_TCP  # what asyncio checks before setting TCP_NODELAY
    finally:
        client.close()
        listener.close()


async def test_header_values_reach_the_app_without_surrounding_whitespace() -> None:
    async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        value = dict(scope["headers"]).get(b"mcp-name", b"")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(value))]})
        await send({"type": "http.response.body", "body": value})

    server = HttpServer(echo, "127.0.0.1", 0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Name: \t stream_blocks  \r\nConnection: close\r\n\r\n")
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        await server.stop()
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"\r\n\r\nstream_blocks")
