"""What a model reads, measured with real clients over real HTTP against a whole deployment (simulator,
Redis, ingestor, gateway): the tool list's size, results' sizes and rounding, output schemas that
validate, errors in one sentence, waits that fit hosts (keep-alive progress), prompts and capabilities."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from fastmcp import Client as FastMCPClient
from mcp import Client

from tests.gateway.agent_checks import (
    is_one_plain_sentence,
    numbers_outside_bounds,
    overly_precise,
    result_bytes,
    text_parts,
)
from tests.gateway.stack import Stack, running_stack

pytestmark = [pytest.mark.timeout(180), pytest.mark.asyncio(loop_scope="module")]

TOPIC_TOOLS = ("stream_blocks", "stream_mempool_blocks", "stream_stats", "stream_live2h")
ADDRESS = "bc1q563uveczer8sx7kd4c7a5h9c4me9dv36n9rgcg"
TOOL_LIST_LIMIT = 16 * 1024
"""Issue 12: the whole tool list, all eight tools, in 16 KB."""
WAIT_RESULT_LIMIT = 16 * 1024
PULL_LIMIT = 2 * 1024
KEEPALIVE_S = 1.0
QUIET_NETWORK = "signet"
"""A network the gateways serve and no ingestor publishes: every wait on it is quiet."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(redis_url: str) -> AsyncIterator[Stack]:
    prefix = f"t{time.time_ns() % 10**12:x}"
    env = {"MEMPOOL_WS_KEEPALIVE_INTERVAL_S": str(KEEPALIVE_S), "MEMPOOL_WS_NETWORKS": f"mainnet,{QUIET_NETWORK}"}
    async with running_stack(redis_url, prefix, gateway_env=env) as running:
        async with Client(running.mcp_url()) as client:
            for tool in TOPIC_TOOLS:  # every topic has data before the tests measure it
                for _ in range(200):
                    if not (await client.call_tool(tool, {"want": False})).is_error:
                        break
                    await asyncio.sleep(0.1)
        yield running
    redis = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def body_of(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def listed(url: str, **options: Any) -> list[dict[str, Any]]:
    async with Client(url, **options) as client:
        tools = (await client.list_tools()).tools
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


async def test_the_tool_list_fits_in_16_kb_with_typed_output_schemas(stack: Stack) -> None:
    for mode in ("auto", "legacy"):
        tools = await listed(stack.mcp_url(), mode=mode)
        size = len(json.dumps({"tools": tools}, separators=(",", ":")).encode())
        assert size <= TOOL_LIST_LIMIT, f"tools/list is {size} bytes ({mode})"
        for tool in tools:
            schema = tool["outputSchema"]
            jsonschema.Draft202012Validator.check_schema(schema)
            assert schema["type"] == "object" and schema.get("required"), tool["name"]
    async with FastMCPClient(stack.mcp_url()) as client:
        tools = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in await client.list_tools()]
    assert len(json.dumps({"tools": tools}, separators=(",", ":")).encode()) <= TOOL_LIST_LIMIT


async def test_every_number_in_a_description_is_inside_the_schema_and_default_waits_fit_60_s(stack: Stack) -> None:
    tools = await listed(stack.mcp_url())
    assert [problem for tool in tools for problem in numbers_outside_bounds(tool)] == []
    for tool in tools:
        timeout = tool["inputSchema"]["properties"].get("timeout_s")
        if timeout is not None:
            assert timeout.get("default", 0) < 60, f"{tool['name']}: a default wait the TypeScript SDK gives up on"
        for name, prop in tool["inputSchema"]["properties"].items():
            default = prop.get("default")
            if isinstance(default, int | float) and not isinstance(default, bool):
                low = prop.get("minimum", prop.get("exclusiveMinimum", default))
                assert low <= default <= prop.get("maximum", default), name


async def test_a_ten_event_projected_blocks_wait_fits_16_kb_rounded_and_summarized(stack: Stack) -> None:
    async with Client(stack.mcp_url()) as client:
        result = await client.call_tool("stream_mempool_blocks", {})
        body = body_of(result)
        assert len(body["events"]) == 10
        assert result_bytes(result) <= WAIT_RESULT_LIMIT, f"{result_bytes(result)} bytes"
        assert overly_precise(body) == []
        summary, text_body = text_parts(result)
        assert text_body == body, "the text carries the structured content after its summary line"
        assert summary.startswith("10 updates; latest: next block median ")
        assert summary.endswith(f"cursor {body['cursor']}")
        full = body_of(await client.call_tool("stream_mempool_blocks", {"full": True, "max_events": 2}))
        assert set(full["events"][0]) == {"v", "id", "network", "topic", "ts_ms", "data"}
        assert set(full["events"][0]["data"]["blocks"][1]) > set(body["events"][0]["data"]["blocks"][1])


async def test_a_pull_of_every_topic_fits_2_kb_rounded_and_every_result_matches_its_schema(stack: Stack) -> None:
    schemas = {tool["name"]: tool["outputSchema"] for tool in await listed(stack.mcp_url())}
    async with Client(stack.mcp_url()) as client:
        calls: list[tuple[str, dict[str, Any]]] = [(tool, {"want": False}) for tool in TOPIC_TOOLS]
        calls += [("track_address", {"address": ADDRESS, "want": False}), ("health", {})]
        calls += [("alert_when", {"metric": metric, "above": 0, "want": False}) for metric in
                  ("mempool_vsize_mb", "fee_fastest", "next_block_median_fee", "vbytes_per_second")]  # fmt: skip
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            body = body_of(result)
            assert result_bytes(result) <= PULL_LIMIT, f"{tool} {arguments}: {result_bytes(result)} bytes"
            assert overly_precise(body) == [], tool
            assert "null" not in json.dumps(body), f"{tool}: results leave out what they do not know"
            summary, text_body = text_parts(result)
            assert text_body == body and summary and "e+" not in summary, summary
            jsonschema.validate(body, schemas[tool])
        for tool in TOPIC_TOOLS:
            for arguments in ({"max_events": 3, "timeout_s": 10}, {"full": True, "want": False, "max_events": 3}):
                body = body_of(await client.call_tool(tool, arguments))
                assert body["events"] and "null" not in json.dumps(body), (tool, arguments)
                jsonschema.validate(body, schemas[tool])
                if "full" not in arguments:
                    assert overly_precise(body) == [], tool


async def test_every_validation_error_is_one_plain_sentence_naming_the_parameter_and_an_example(stack: Stack) -> None:
    calls: list[tuple[str, dict[str, Any], str]] = [
        ("stream_stats", {"max_events": 0}, "max_events"),
        ("stream_stats", {"max_events": "ten"}, "max_events"),
        ("stream_stats", {"max_events": 1.5}, "max_events"),
        ("stream_blocks", {"timeout_s": 600}, "timeout_s"),
        ("stream_blocks", {"timeout_s": -1}, "timeout_s"),
        ("stream_blocks", {"timeout_s": "soon"}, "timeout_s"),
        ("stream_live2h", {"network": "regtest"}, "network"),
        ("stream_live2h", {"cursor": "x" * 100}, "cursor"),
        ("stream_live2h", {"cursor": "yesterday"}, "cursor"),
        ("stream_mempool_blocks", {"want": "maybe"}, "want"),
        ("stream_mempool_blocks", {"full": "all"}, "full"),
        ("stream_stats", {"bogus": 1}, "bogus"),
        ("stream_stats", {"max_events": 0, "timeout_s": 0}, "timeout_s"),
        ("health", {"want": False}, "want"),
        ("track_address", {}, "address"),
        ("track_address", {"address": ""}, "address"),
        ("track_address", {"address": "bc1qxyz"}, "address"),
        ("track_address", {"address": f"{ADDRESS},{ADDRESS}"}, "address"),
        ("alert_when", {"above": 1}, "metric"),
        ("alert_when", {"metric": "moon_phase", "above": 1}, "metric"),
        ("alert_when", {"metric": "fee_fastest"}, "above"),
        ("alert_when", {"metric": "fee_fastest", "above": "lots"}, "above"),
        ("alert_when", {"metric": "fee_fastest", "below": 2, "want": "perhaps"}, "want"),
    ]
    async with Client(stack.mcp_url()) as client:
        for tool, arguments, parameter in calls:
            result = await client.call_tool(tool, arguments)
            assert result.is_error, (tool, arguments)
            text = "".join(getattr(part, "text", "") for part in result.content)
            assert is_one_plain_sentence(text), text
            assert parameter in text and "e.g." in text, text


async def test_a_quiet_wait_sends_keepalive_progress_that_consumers_can_tell_from_events(stack: Stack) -> None:
    messages: list[tuple[float, float, str]] = []
    started = time.monotonic()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append((time.monotonic() - started, progress, message or ""))

    async with Client(stack.mcp_url()) as client:
        result = await client.call_tool(
            "stream_stats", {"network": QUIET_NETWORK, "timeout_s": 3.5}, progress_callback=on_progress
        )
        body = body_of(result)
        assert body["events"] == [] and body["timed_out"]
        assert len(messages) == 3, messages
        assert [json.loads(message) for _, _, message in messages] == [
            {"keepalive": True, "waited_s": seconds} for seconds in (1, 2, 3)
        ]
        assert [progress for _, progress, _ in messages] == [1, 2, 3]
        summary, _ = text_parts(result)
        assert summary.startswith("no updates in 3.5 s") and "service degraded" in summary, summary


async def test_a_client_that_restarts_a_short_timeout_on_progress_survives_a_long_alert(stack: Stack) -> None:
    """The TypeScript SDK's resetTimeoutOnProgress, with a 2.5 s timeout and an 8 s wait that never fires."""
    last_progress = time.monotonic()
    events: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        nonlocal last_progress
        last_progress = time.monotonic()
        events.append(message or "")

    async def timeout_unless_progress(call: asyncio.Task[Any]) -> None:
        while not call.done():
            if time.monotonic() - last_progress > 2.5:
                call.cancel()
                raise AssertionError("no progress for 2.5 s: a host that resets its timeout on progress gives up")
            await asyncio.sleep(0.05)

    async with Client(stack.mcp_url()) as client:
        arguments = {"metric": "mempool_tx_count", "below": 0, "timeout_s": 8}
        call = asyncio.create_task(client.call_tool("alert_when", arguments, progress_callback=on_progress))
        await timeout_unless_progress(call)
        body = body_of(await call)
    assert not body["triggered"] and body["waited_s"] >= 8 and body["condition"] == "mempool_tx_count below 0"
    assert len(events) >= 7 and all(json.loads(event)["keepalive"] for event in events)


async def test_prompts_are_listed_and_rendered_and_capabilities_are_truthful_in_both_eras(stack: Stack) -> None:
    async with Client(stack.mcp_url()) as client:
        capabilities = client.server_capabilities
        assert capabilities is not None and capabilities.prompts is not None
        prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
        assert set(prompts) == {"mempool_alert", "watch_payment", "next_block_fee"}
        alert = await client.get_prompt("mempool_alert", {"threshold_mb": "300"})
        text = alert.messages[0].content.text  # type: ignore[union-attr]
        assert "alert_when" in text and 'metric="mempool_vsize_mb"' in text and "above=300" in text and "cursor" in text
        watch = await client.get_prompt("watch_payment", {"address": ADDRESS})
        text = watch.messages[0].content.text  # type: ignore[union-attr]
        assert "track_address" in text and ADDRESS in text and "confirmed" in text and "cursor" in text
        fee = await client.get_prompt("next_block_fee", {})
        assert "next_block_median_fee_rate" in fee.messages[0].content.text  # type: ignore[union-attr]
    legacy = await initialize_legacy(stack.mcp_url())
    assert legacy["prompts"] == {"listChanged": False}
    assert legacy["tools"] == {"listChanged": False}
    assert legacy["resources"] == {"subscribe": False, "listChanged": False}
    async with Client(stack.mcp_url(), mode="legacy") as client:
        assert len((await client.list_prompts()).prompts) == 3


async def initialize_legacy(url: str) -> dict[str, Any]:
    """The capabilities a 2025-11-25 client (the TypeScript SDK 1.x, the Inspector) is told of."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json=request, headers=headers)
    lines = [line.removeprefix("data:") for line in response.text.splitlines() if line.startswith("data:")]
    answer = json.loads(lines[0] if lines else response.text)
    assert answer["result"]["protocolVersion"] == "2025-11-25"
    capabilities: dict[str, Any] = answer["result"]["capabilities"]
    return capabilities
