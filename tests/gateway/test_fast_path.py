"""The fast path answers the hot request with exactly FastMCP's bytes, and is really taken.

Two gateways share one embedded bus: one with the fast path (the default), one with it off
(``fast_path=False``, i.e. ``MEMPOOL_WS_FAST_PATH=0``). The same requests go to both over real HTTP and
the answers are compared byte for byte (status, headers but ``date``, de-chunked body).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from fastmcp import Client as FastMCPClient
from mcp import Client as SdkClient
from pydantic import SecretStr, TypeAdapter

from mcp_gateway.gateway import Gateway
from mcp_gateway.main import bind_http
from mcp_gateway.tools.common import listed_parameters
from mcp_gateway.tools.streams import request_parser
from shared.bus import MemoryBackend, Retention
from shared.events import Event, Publication
from shared.http_server import HttpServer
from shared.models import IngestorStatus
from shared.settings import GatewaySettings
from tests.gateway.conftest import FakeFeed
from tests.gateway.rawhttp import RawResponse, exchange, modern_call

pytestmark = pytest.mark.timeout(60)


@dataclass
class Served:
    gateway: Gateway
    http: HttpServer

    @property
    def url(self) -> str:
        return f"{self.http.url}/mcp"

    def fast_calls(self, tool: str = "stream_stats") -> float:
        return float(self.gateway.metrics.fast_path_calls.labels(tool)._value.get())

    def calls(self, tool: str, outcome: str) -> float:
        return float(self.gateway.metrics.tool_calls.labels(tool, outcome)._value.get())


@dataclass
class Pair:
    fast: Served
    slow: Served

    async def both(self, headers: dict[str, str], body: bytes) -> tuple[RawResponse, RawResponse]:
        return await asyncio.gather(
            exchange(self.fast.http.port, headers, body), exchange(self.slow.http.port, headers, body)
        )

    async def until_waiting(self, count: int = 1) -> None:
        for _ in range(200):
            if self.fast.gateway.active_streams == count and self.slow.gateway.active_streams == count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the calls never started waiting")


class Twins:
    """Two embedded buses in the same state: one epoch, the same events (an embedded bus has one live reader)."""

    def __init__(self) -> None:
        self.buses = [MemoryBackend(retention=Retention(history_size=20, address_history_size=10)) for _ in "ab"]
        for bus in self.buses:
            bus._epochs["mainnet"] = "7e57e90c"

    async def publish(self, publications: list[Publication]) -> list[Event]:
        return [await bus.publish(publications) for bus in self.buses][0]

    async def write_status(self, status: IngestorStatus, ttl_s: float) -> None:
        for bus in self.buses:
            await bus.write_status(status, ttl_s=ttl_s)


@pytest.fixture
def twins() -> Twins:
    return Twins()


@pytest.fixture
def feed(twins: Twins) -> FakeFeed:
    return FakeFeed(twins)  # type: ignore[arg-type]


@pytest.fixture
async def pair(request: pytest.FixtureRequest, twins: Twins, feed: FakeFeed) -> AsyncIterator[Pair]:
    """The two gateways; keep-alives every ``request.param`` seconds (default 30: none in a test)."""
    keepalive_s = getattr(request, "param", 30.0)
    await feed.status()
    served = []
    for fast, backend in zip((True, False), twins.buses, strict=True):
        settings = GatewaySettings(host="127.0.0.1", port=0, fast_path=fast, keepalive_interval_s=keepalive_s)
        gateway = Gateway(settings, backend)
        http = bind_http(gateway)
        await http.start()
        served.append(Served(gateway, http))
    try:
        yield Pair(*served)
    finally:
        for each in served:
            await each.http.stop()


def assert_same(fast: RawResponse, slow: RawResponse) -> None:
    assert (fast.status, fast.headers) == (slow.status, slow.headers)
    assert fast.body == slow.body


IMMEDIATE = [
    ("stream_stats", {"want": False}),
    ("stream_stats", {"want": False, "max_events": 3, "full": True}),
    ("stream_stats", {"want": False, "max_events": "2"}),  # lax coercion, as FastMCP validates
    ("stream_stats", None),  # no arguments member: a wait with the defaults (cut short below)
    ("stream_blocks", {"want": False}),  # no block yet: NoDataYet
    ("stream_stats", {"want": False, "network": "testnet"}),  # not served
    ("stream_stats", {"want": False, "max_events": 0}),  # invalid: falls through, FastMCP's words
    ("stream_stats", {"want": False, "bogus": 1}),  # unknown argument
    ("stream_stats", {"want": False, "cursor": "not-a-cursor"}),
    ("stream_stats", {"timeout_s": 0.3}),  # a quiet wait: JSON, timed_out
    ("stream_stats", {"timeout_s": 0.3, "cursor": "0"}),  # history catch-up then quiet
    ("stream_live2h", {"timeout_s": 0.2, "network": "mainnet"}),
]


@pytest.mark.parametrize(("tool", "arguments"), IMMEDIATE)
async def test_immediate_answers_are_byte_identical(
    pair: Pair, feed: FakeFeed, tool: str, arguments: dict[str, Any] | None
) -> None:
    for fastest in (5.0, 6.0, 7.0):
        await feed.stats(fastest)
    if arguments is None:
        headers, body = modern_call(tool, {"timeout_s": 0.3})
    else:
        headers, body = modern_call(tool, arguments)
    fast, slow = await pair.both(headers, body)
    assert_same(fast, slow)
    assert fast.status == 200 and b'"result"' in fast.body


@pytest.mark.parametrize("token", ["p1", 7, None])
async def test_streamed_answers_are_byte_identical(pair: Pair, feed: FakeFeed, token: str | int | None) -> None:
    await feed.stats(5.0)
    headers, body = modern_call("stream_stats", {"max_events": 2, "timeout_s": 10}, request_id="r-9", token=token)
    calls = asyncio.gather(exchange(pair.fast.http.port, headers, body), exchange(pair.slow.http.port, headers, body))
    await pair.until_waiting()
    await feed.stats(6.0)
    await asyncio.sleep(0.1)
    await feed.stats(7.0)
    fast, slow = await calls
    assert_same(fast, slow)
    sse = ("content-type", "text/event-stream")
    assert (sse in fast.headers) == (token is not None)  # without a token nothing streams: JSON, as the SDK
    assert fast.body.count(b"notifications/progress") == (2 if token is not None else 0)
    assert pair.fast.fast_calls() == 1 and pair.slow.fast_calls() == 0


@pytest.mark.parametrize("pair", [0.4], indirect=True)
async def test_keepalive_progress_is_byte_identical(pair: Pair, feed: FakeFeed) -> None:
    await feed.stats(5.0)
    headers, body = modern_call("stream_stats", {"max_events": 1, "timeout_s": 1.0})
    fast, slow = await pair.both(headers, body)
    assert_same(fast, slow)
    assert fast.body.count(b'\\"keepalive\\":true') == 2  # every 0.4 s of the 1 s wait


async def test_cursor_catch_up_streams_history_identically(pair: Pair, feed: FakeFeed) -> None:
    first = await feed.stats(5.0)
    for fastest in (6.0, 7.0, 8.0):
        await feed.stats(fastest)
    headers, body = modern_call("stream_stats", {"max_events": 2, "cursor": first.id, "timeout_s": 5})
    fast, slow = await pair.both(headers, body)
    assert_same(fast, slow)
    assert fast.body.count(b"notifications/progress") == 2


async def test_other_requests_fall_through(pair: Pair, feed: FakeFeed) -> None:
    await feed.stats(5.0)
    cases = [
        modern_call("health", {}),  # another tool
        modern_call("stream_stats", {"want": False}, extra_headers={"Mcp-Name": "stream_blocks"}),  # header mismatch
        modern_call("stream_stats", {"want": False}, extra_headers={"Accept": "application/json"}),  # no SSE accept
        modern_call("stream_stats", {"want": False}, extra_headers={"Content-Type": "text/plain"}),
        modern_call("stream_stats", {"want": False}, meta={"io.modelcontextprotocol/protocolVersion": "2025-11-25"}),
        modern_call("stream_stats", {"want": False}, meta={"fastmcp/version": "1"}),  # unknown _meta key
        modern_call("stream_stats", {"want": False}, token=True),
    ]
    for headers, body in cases:
        fast, slow = await pair.both(headers, body)
        if headers["Mcp-Name"] != "health":  # health's uptime differs between the two
            assert_same(fast, slow)
    headers, body = modern_call("stream_stats", {"want": False})
    fast, slow = await pair.both(headers, body.replace(b'"method": "tools/call"', b'"method": "tools/list"'))
    assert_same(fast, slow)
    assert pair.fast.fast_calls() == 0 and pair.fast.fast_calls("stream_blocks") == 0


async def test_metrics_count_the_same_outcomes(pair: Pair, feed: FakeFeed) -> None:
    await feed.stats(5.0)
    for arguments in ({"want": False}, {"want": False, "network": "testnet"}, {"timeout_s": 0.2}):
        await pair.both(*modern_call("stream_stats", arguments))
    for outcome in ("ok", "tool_error", "cancelled", "error"):
        assert pair.fast.calls("stream_stats", outcome) == pair.slow.calls("stream_stats", outcome), outcome
    assert pair.fast.calls("stream_stats", "ok") == 2 and pair.fast.calls("stream_stats", "tool_error") == 1
    assert pair.fast.fast_calls() == 3


async def test_a_disconnect_cancels_the_call_and_frees_its_slot(pair: Pair, feed: FakeFeed) -> None:
    await feed.stats(5.0)
    headers, body = modern_call("stream_stats", {"timeout_s": 30})
    calls = [asyncio.create_task(exchange(served.http.port, headers, body)) for served in (pair.fast, pair.slow)]
    await pair.until_waiting()
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    await pair.until_waiting(0)
    for _ in range(100):
        if pair.fast.calls("stream_stats", "cancelled") == 1:
            break
        await asyncio.sleep(0.02)
    assert pair.fast.calls("stream_stats", "cancelled") == pair.slow.calls("stream_stats", "cancelled") == 1


async def test_capacity_refusal_is_identical(twins: Twins, feed: FakeFeed) -> None:
    await feed.status()
    await feed.stats(5.0)
    answers = []
    for fast, backend in zip((True, False), twins.buses, strict=True):
        gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0, fast_path=fast, max_concurrent_streams=1), backend)
        http = bind_http(gateway)
        await http.start()
        try:
            headers, body = modern_call("stream_stats", {"timeout_s": 2})
            holder = asyncio.create_task(exchange(http.port, headers, body))
            while gateway.active_streams < 1:
                await asyncio.sleep(0.02)
            answers.append(await exchange(http.port, headers, body))
            holder.cancel()
            await asyncio.gather(holder, return_exceptions=True)
        finally:
            await http.stop()
    assert_same(*answers)
    assert b"busy" in answers[0].body


@pytest.mark.parametrize("client_kind", ["fastmcp", "mcp"])
async def test_python_clients_see_no_difference(pair: Pair, feed: FakeFeed, client_kind: str) -> None:
    await feed.stats(5.0)

    async def session(served: Served) -> list[Any]:
        seen: list[Any] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, json.loads(message or "{}").get("id")))

        client: Any = FastMCPClient(served.url) if client_kind == "fastmcp" else SdkClient(served.url)
        progress = "progress_handler" if client_kind == "fastmcp" else "progress_callback"
        no_raise = {"raise_on_error": False} if client_kind == "fastmcp" else {}
        async with client:
            snapshot = await client.call_tool("stream_stats", {"want": False})
            waited = await client.call_tool(
                "stream_stats", {"max_events": 1, "timeout_s": 10}, **{progress: on_progress}
            )
            refused = await client.call_tool("stream_stats", {"want": False, "max_events": 0}, **no_raise)
        for result in (snapshot, waited, refused):
            seen.append((result.content[0].text, result.is_error, result.structured_content))
        return seen

    sessions = [asyncio.create_task(session(served)) for served in (pair.fast, pair.slow)]
    for _ in range(250):
        if pair.fast.gateway.active_streams == pair.slow.gateway.active_streams == 1:
            break
        await asyncio.sleep(0.02)
    await feed.stats(6.0)
    fast, slow = await asyncio.gather(*sessions)
    assert fast == slow
    assert pair.fast.fast_calls() == 2  # the snapshot and the wait; the invalid call fell through


def test_the_fast_path_validates_with_the_tools_signature() -> None:
    gateway = Gateway(GatewaySettings(), MemoryBackend())
    from mcp_gateway.server import build_server

    mcp = build_server(gateway)
    tool = asyncio.run(mcp.get_tool("stream_stats"))
    assert tool is not None
    schema = TypeAdapter(cast(Any, request_parser(gateway))).json_schema()
    assert listed_parameters(schema, gateway.settings.served_networks) == tool.parameters


async def test_guards_answer_before_the_fast_path_as_before(pair: Pair, feed: FakeFeed) -> None:
    await feed.stats(5.0)
    for extra in ({"Host": "evil.example"}, {"Origin": "https://evil.example"}):
        headers, body = modern_call("stream_stats", {"want": False}, extra_headers=extra)
        fast, slow = await pair.both(headers, body)
        assert_same(fast, slow)
        assert fast.status in (403, 421)
    assert pair.fast.fast_calls() == 0


async def test_the_bearer_token_is_checked_first(twins: Twins, feed: FakeFeed) -> None:
    await feed.status()
    await feed.stats(5.0)
    answers = []
    for fast, backend in zip((True, False), twins.buses, strict=True):
        settings = GatewaySettings(host="127.0.0.1", port=0, fast_path=fast, auth_token=SecretStr("s3cret"))
        gateway = Gateway(settings, backend)
        http = bind_http(gateway)
        await http.start()
        try:
            for token in (None, "wrong", "s3cret"):
                extra = {"Authorization": f"Bearer {token}"} if token else {}
                answers.append(
                    await exchange(http.port, *modern_call("stream_stats", {"want": False}, extra_headers=extra))
                )
        finally:
            await http.stop()
        assert gateway.metrics.fast_path_calls.labels("stream_stats")._value.get() == (1 if fast else 0)
    for fast_answer, slow_answer in zip(answers[:3], answers[3:], strict=True):
        assert_same(fast_answer, slow_answer)
    assert [answer.status for answer in answers[:3]] == [401, 401, 200]


@pytest.mark.parametrize("failure", [RuntimeError("boom"), TimeoutError()])
async def test_an_unexpected_failure_is_masked_identically(
    pair: Pair, feed: FakeFeed, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    from mcp_gateway import fastpath
    from mcp_gateway.tools import streams

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(fastpath, "topic_answer", failing)
    monkeypatch.setattr(streams, "topic_answer", failing)
    await feed.stats(5.0)
    fast, slow = await pair.both(*modern_call("stream_stats", {"want": False}))
    assert_same(fast, slow)
    assert b'"isError":true' in fast.body and b"boom" not in fast.body
    assert pair.fast.fast_calls() == 1
    assert pair.fast.calls("stream_stats", "tool_error") == pair.slow.calls("stream_stats", "tool_error") == 1
