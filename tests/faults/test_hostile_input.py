"""Hostile input through fastmcp's in-memory Client: every call ends with a result or a clear ToolError.

Never an internal error (fastmcp's masked "Error calling tool ..."), never a hang. Run on the embedded
bus and on Redis (huge cursor ids, odd keys). The frame normalizer's fuzzing lives in
``tests/normalize/test_properties.py``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ResourceError, ToolError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import MCPError

from mcp_gateway.gateway import Gateway
from mcp_gateway.server import build_server
from shared.bitcoin.addresses import base58check_encode, segwit_encode
from shared.bus import Backend, MemoryBackend
from shared.bus.redis import RedisBackend
from shared.settings import GatewaySettings
from tests.faults.helpers import figures
from tests.gateway.conftest import FakeFeed

HOSTILE = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALID = [
    segwit_encode("bc", 0, bytes(range(20))),
    segwit_encode("bc", 0, bytes(range(32))),
    segwit_encode("bc", 1, bytes(range(32))),
    base58check_encode(0x00, bytes(20)),
    base58check_encode(0x05, bytes(range(20))),
]
OTHER_NETWORK = [segwit_encode("tb", 0, bytes(range(20))), base58check_encode(0x6F, bytes(20))]
MASKED = "Error calling tool"
TALLY: dict[str, int] = {}


@st.composite
def mangled_addresses(draw: st.DrawFn) -> str:
    """Valid addresses broken in every way an agent or an attacker might: checksum, case, network, junk."""
    address = draw(st.sampled_from(VALID + OTHER_NETWORK))
    position = draw(st.integers(0, len(address) - 1))
    how = draw(st.sampled_from(["flip", "case", "upper", "cut", "grow", "inject", "unicode", "as is"]))
    if how == "flip":
        char = draw(st.sampled_from("qpzry9x8gf2tvdw0s3jn54khce6mua7l123456789ABCDEFGH"))
        return address[:position] + char + address[position + 1 :]
    if how == "case":
        return address[:position] + address[position].swapcase() + address[position + 1 :]
    if how == "upper":
        return address.upper()
    if how == "cut":
        return address[:position]
    if how == "grow":
        return address + draw(st.text("qpzry9x8gf2tvdw0", min_size=1, max_size=250))
    char = draw(st.characters(max_codepoint=31) if how == "inject" else st.characters(min_codepoint=128))
    return address[:position] + char + address[position:] if how != "as is" else address


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
short_waits = st.floats(min_value=0.001, max_value=0.05)
bad_waits = st.one_of(
    st.sampled_from([0, -1, -0.0, 301, 1e308, math.inf, -math.inf, math.nan, "soon", "", "1e999", "-5"]),
    st.text(alphabet="abcxyz ,.:\x00\u00e9", max_size=8),
)
cursors = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"\A[0-9a-f]{1,8}:[0-9]{1,19}\Z"),
    st.sampled_from(["0", "9999999999999999999", "18446744073709551615", "ffffffff:0", ":1", "1:", " 5 "]),
)
networks = st.one_of(st.sampled_from(["mainnet", "testnet", "testnet4", "signet", "MAINNET", "liquid"]), st.text())
metrics = st.one_of(st.sampled_from(["fee_fastest", "mempool_vsize_mb", "next_block_median_fee"]), st.text())


def pick(draw: st.DrawFn, valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> Any:
    """A valid value three times in four, a hostile one otherwise (so calls also get past validation)."""
    return draw(hostile if draw(st.integers(0, 3)) == 0 else valid)


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A tool and arguments, each argument left out, valid, or hostile."""
    tool = draw(st.sampled_from(["stream_blocks", "stream_mempool_blocks", "stream_stats", "stream_live2h",
                                 "track_address", "alert_when", "health"]))  # fmt: skip
    valid_cursor = st.from_regex(r"\A([0-9a-f]{8}:)?[0-9]{1,6}\Z")
    options: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
        "want": (st.booleans(), anything),
        "max_events": (st.integers(1, 500), st.one_of(st.integers(), anything)),
        "timeout_s": (short_waits, bad_waits),
        "cursor": (valid_cursor, cursors),
        "network": (st.sampled_from(["mainnet", "signet"]), networks),
    }
    if tool == "track_address":
        options["address"] = (st.sampled_from(VALID), st.one_of(mangled_addresses(), st.text(max_size=300), anything))
    if tool == "alert_when":
        threshold = (st.floats(-1e6, 1e6), anything)
        options = {"metric": (st.sampled_from(["fee_fastest", "mempool_tx_count"]), metrics), "above": threshold,
                   "below": threshold, "timeout_s": options["timeout_s"], "cursor": options["cursor"]}  # fmt: skip
    if tool == "health":
        options = {"network": options["network"]}
    arguments = {name: pick(draw, *pair) for name, pair in options.items() if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        arguments[draw(st.text(max_size=10))] = draw(anything)
    return tool, arguments


async def _gateway_client(backend: Backend) -> AsyncIterator[tuple[Gateway, Client[Any]]]:
    feed = FakeFeed(backend)  # type: ignore[arg-type]
    await feed.status()
    await feed.stats(fastest=3.0)
    await feed.block(900_000)
    gateway = Gateway(GatewaySettings(default_timeout_s=0.05), backend)
    async with Client(build_server(gateway)) as client:
        yield gateway, client


@pytest.fixture(params=["embedded", "redis"])
async def target(
    request: pytest.FixtureRequest, redis_url: str, key_prefix: str, redis_cleanup: None
) -> AsyncIterator[tuple[Gateway, Client[Any]]]:
    """A gateway with a little data, on the embedded bus or on Redis, and an in-memory client."""
    backend: Backend = MemoryBackend() if request.param == "embedded" else RedisBackend(redis_url, prefix=key_prefix)
    if isinstance(backend, RedisBackend):
        await backend.connect()
    TALLY.clear()
    async for pair in _gateway_client(backend):
        yield pair
    await backend.close()
    if TALLY:
        figures(f"hostile-input-{request.param}", **TALLY)


def check_error(exc: Exception) -> None:
    """A deliberate, readable refusal: not a masked internal error, not a traceback."""
    message = str(exc)
    assert message and not message.startswith(MASKED), f"internal error surfaced: {message!r}"
    assert "Traceback" not in message and "object at 0x" not in message, message


@pytest.mark.timeout(120)
@HOSTILE
@given(call=calls())
async def test_every_tool_answers_hostile_arguments_with_a_result_or_a_clear_error(
    target: tuple[Gateway, Client[Any]], call: tuple[str, dict[str, Any]]
) -> None:
    gateway, client = target
    tool, arguments = call
    try:
        async with asyncio.timeout(5):
            result = await client.call_tool(tool, arguments)
        assert result.structured_content is not None
        TALLY["results"] = TALLY.get("results", 0) + 1
    except ToolError as exc:
        check_error(exc)
        TALLY["clear_errors"] = TALLY.get("clear_errors", 0) + 1
    errors = gateway.metrics.registry.get_sample_value("gateway_tool_calls_total", {"tool": tool, "outcome": "error"})
    assert not errors, "no call ended in an unexpected exception"


@pytest.mark.timeout(60)
@settings(HOSTILE, max_examples=120)
@given(address=st.one_of(mangled_addresses(), st.text(max_size=120)), network=networks)
async def test_address_resources_refuse_hostile_uris_clearly(
    target: tuple[Gateway, Client[Any]], address: str, network: str
) -> None:
    _, client = target
    try:
        async with asyncio.timeout(5):
            await client.read_resource(f"mempool://{network}/address/{address}")
    except (ResourceError, MCPError) as exc:
        assert not str(exc).startswith("Error reading resource"), str(exc)
    except ValueError:
        pass  # the client itself refused to build a URI out of it
