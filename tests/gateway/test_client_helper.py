"""The stream() client helper: live yields, cursor loops, restarts of the gateway process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_gateway.client import _Call, _from_result, _Position, stream
from mcp_gateway.gateway import Gateway
from tests.gateway.conftest import FakeFeed
from tests.gateway.stack import running_stack, wait_ready
from tests.support.processes import ServiceProcess


async def test_events_are_yielded_as_they_arrive_across_many_calls(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    received: list[tuple[float, int]] = []

    async def consume() -> None:
        async for event in stream(client, "stream_blocks", max_events=2, timeout_s=5):
            received.append((time.monotonic(), event["data"]["height"]))
            if len(received) == 5:
                return

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    published_at = []
    for height in range(1, 6):
        await feed.block(height)
        published_at.append(time.monotonic())
        await asyncio.sleep(0.15)
    await asyncio.wait_for(consumer, 10)
    assert [height for _, height in received] == [1, 2, 3, 4, 5]
    assert all(got - sent < 0.1 for (got, _), sent in zip(received, published_at, strict=True))


async def test_bad_parameters_are_raised_not_retried(gateway_client: tuple[Gateway, Client[Any]]) -> None:
    _, client = gateway_client
    with pytest.raises(ToolError, match="address"):
        async for _ in stream(client, "track_address", address="not-an-address"):
            pass


async def test_a_stale_cursor_is_yielded_as_one_gap_item_before_the_events(
    gateway_client: tuple[Gateway, Client[Any]], feed: FakeFeed
) -> None:
    _, client = gateway_client
    items: list[dict[str, Any]] = []

    async def consume() -> None:
        async for item in stream(client, "stream_stats", cursor="deadbeef:5", max_events=2, timeout_s=5):
            items.append(item)
            if len(items) == 3:
                return

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    published = [await feed.stats(fastest=float(n)) for n in range(2)]
    await asyncio.wait_for(consumer, 10)
    gap, *events = items
    assert set(gap["data"]["gap"]) == {"reason", "from_ts_ms", "to_ts_ms"} and gap["data"]["gap"]["from_ts_ms"] == 0
    assert gap["topic"] == "stats" and gap["cursor"].split(":")[0] != "deadbeef"
    assert [event["id"] for event in events] == [event.id for event in published]
    assert all(list(event)[0] == "cursor" and "gap" not in event["data"] for event in events)


def _event(event_id: int, ts_ms: int, epoch: str | None = None) -> dict[str, Any]:
    event = {"v": 1, "id": str(event_id), "network": "mainnet", "topic": "stats", "ts_ms": ts_ms, "data": {"x": 1}}
    return {"cursor": f"{epoch}:{event_id}", **event} if epoch else event


def test_an_epoch_change_during_a_call_yields_one_gap_and_no_event_twice() -> None:
    position = _Position("aaaa:2910")
    position.last_ts = 1000
    call = _Call(start_epoch="aaaa", ts_before=1000)
    yielded = [item for e in (_event(2919, 1100), _event(2922, 1200)) for item in position.take(e, "aaaa", call)]
    yielded += list(position.take(_event(3, 1500), "bbbb", call))
    body = {
        "network": "mainnet",
        "topic": "stats",
        "cursor": "bbbb:7",
        "gap": True,
        "events": [_event(2919, 1100), _event(2922, 1200), _event(3, 1500), _event(5, 1600)],
    }
    yielded += list(_from_result(body, position, call))
    kinds = ["gap" if "gap" in item["data"] else item["cursor"] for item in yielded]
    assert kinds == ["aaaa:2919", "aaaa:2922", "gap", "bbbb:3", "bbbb:5"]
    gap = yielded[2]["data"]["gap"]
    assert (gap["from_ts_ms"], gap["to_ts_ms"], yielded[2]["cursor"]) == (1200, 1500, "bbbb:2")
    assert position.cursor() == "bbbb:7"


def test_an_epoch_change_after_the_last_progress_event_is_a_gap_after_it() -> None:
    """Redis restarted empty after the call's last event: the result's new epoch, no new event yet."""
    position = _Position("aaaa:30484")
    position.last_ts = 1000
    call = _Call(start_epoch="aaaa", ts_before=1000)
    yielded = [item for e in (_event(30492, 1100), _event(30505, 1300)) for item in position.take(e, "aaaa", call)]
    body = {"network": "mainnet", "topic": "stats", "cursor": "bbbb:0", "gap": True,
            "events": [_event(30492, 1100), _event(30505, 1300)]}  # fmt: skip
    before = int(time.time() * 1000)
    yielded += list(_from_result(body, position, call))
    assert ["gap" if "gap" in item["data"] else item["cursor"] for item in yielded] == [
        "aaaa:30492",
        "aaaa:30505",
        "gap",
    ]
    gap = yielded[2]["data"]["gap"]
    assert gap["from_ts_ms"] == 1300, "from the last event yielded, not before the call's first one"
    assert gap["to_ts_ms"] >= before and yielded[2]["cursor"] == "bbbb:0"
    assert position.cursor() == "bbbb:0"


def test_a_result_gap_without_progress_comes_before_the_events_progress_missed() -> None:
    position = _Position("aaaa:40")
    position.last_ts = 900
    call = _Call(start_epoch="aaaa", ts_before=900)
    body = {"network": "mainnet", "topic": "stats", "cursor": "aaaa:90", "gap": True,
            "events": [_event(80, 1500), _event(90, 1600)]}  # fmt: skip
    yielded = list(_from_result(body, position, call))
    assert ["gap" if "gap" in item["data"] else item["cursor"] for item in yielded] == ["gap", "aaaa:80", "aaaa:90"]
    assert yielded[0]["cursor"] == "aaaa:79" and yielded[0]["data"]["gap"]["to_ts_ms"] == 1500
    assert list(_from_result({**body, "gap": False}, position, _Call("aaaa", 1600))) == [], "nothing twice"


@pytest.mark.timeout(90)
async def test_the_helper_survives_a_gateway_restart_without_losing_events(
    redis_url: str, key_prefix: str, redis_cleanup: None
) -> None:
    async with running_stack(redis_url, key_prefix, gateways=1) as stack:
        gateway = stack.processes[1]
        ids: list[int] = []

        async def consume() -> None:
            async with Client(stack.mcp_url()) as client:
                async for event in stream(client, "stream_stats", max_events=5, timeout_s=10, retry_delay_s=0.2):
                    ids.append(int(event["id"]))

        consumer = asyncio.create_task(consume())
        try:
            while len(ids) < 10:
                await asyncio.sleep(0.05)
            gateway.stop()
            await asyncio.sleep(1.0)
            restarted = ServiceProcess(gateway.args[3:], env=None).start()
            stack.processes.append(restarted)
            await wait_ready(f"{stack.gateways[0]}/readyz")
            count = len(ids)
            while len(ids) < count + 10:
                await asyncio.sleep(0.05)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
        redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            entries: list[tuple[str, dict[str, str]]] = await redis.xrange(  # type: ignore[assignment]
                f"{key_prefix}:mainnet:stats:history", f"{ids[0]}-0", f"{ids[-1]}-0"
            )
        finally:
            await redis.aclose()
        assert ids == [int(entry_id.split("-")[0]) for entry_id, _ in entries], "no event lost or repeated"


async def test_a_stream_cancelled_while_waiting_leaves_no_task_behind(
    gateway_client: tuple[Gateway, Client[Any]],
) -> None:
    """Cancelling the loop mid-call must not leave the helper's waiter on its queue pending (it was
    destroyed pending later: "Task was destroyed but it is pending!", seen by the fault checker)."""
    _, client = gateway_client

    def queue_waiters() -> list[asyncio.Task[Any]]:
        return [
            task
            for task in asyncio.all_tasks()
            if not task.done() and getattr(task.get_coro(), "__qualname__", "") == "Queue.get"
        ]

    before = len(queue_waiters())

    async def consume() -> None:
        async for _ in stream(client, "stream_blocks", max_events=2, timeout_s=30):
            pass

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.5)  # inside a call, waiting for events that do not come
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await asyncio.sleep(0.05)
    assert len(queue_waiters()) == before
