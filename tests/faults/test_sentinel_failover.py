"""A Sentinel failover under a running deployment: the master killed with writes its replica never got.

How the unreplicated writes are forced, deterministically: the replica replicates through a TCP fault
proxy (:mod:`tests.support.fault_proxy`). The test switches the proxy to blackhole: the connection stays
open, so neither side notices, but nothing reaches the replica. Redis replication is asynchronous, so the
master keeps acknowledging the ingestor's publishes. Once the master holds at least ``LOST_AT_LEAST``
events the replica lacks, the master is killed (SIGKILL). The three sentinels see it down after 1 s
(``down-after-milliseconds``) and promote the replica, whose last id is below ids the ingestor already
handed out (and the gateway already delivered live).

What must hold: streams deliver again within 30 s of the kill; ids keep increasing in the same epoch (no
id is given out twice); every stats event the replica lacked is covered by a gap notice on ``stats``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from mcp import Client

from shared.channels import Names
from shared.events import Event
from tests.faults.helpers import eventually, figures, until
from tests.gateway.stack import Stack, running_stack
from tests.support.fault_proxy import FaultProxy
from tests.support.redis_topologies import SentinelGroup

LOST_AT_LEAST = 5
DELIVERED_AGAIN_WITHIN_S = 30.0


@dataclass
class Seen:
    """What a looping stream_stats consumer received: (arrival, event) pairs and the results' gap flags."""

    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    gaps: list[bool] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def ids(self) -> list[int]:
        return [int(event["id"]) for _, event in self.events]


async def consume(url: str, seen: Seen) -> None:
    """Call stream_stats in a loop, passing each result's cursor to the next call (errors are retried)."""
    cursor: str | None = None
    while True:
        try:
            async with Client(url) as client:
                while True:
                    arguments: dict[str, Any] = {"max_events": 5, "timeout_s": 4}
                    if cursor is not None:
                        arguments["cursor"] = cursor
                    result = await client.call_tool("stream_stats", arguments)
                    body = result.structured_content
                    if result.is_error or not isinstance(body, dict):
                        seen.errors.append(str(result.content)[:200])
                        await asyncio.sleep(0.2)
                        continue
                    seen.gaps.append(bool(body.get("gap")))
                    seen.events += [(time.monotonic(), event) for event in body["events"]]
                    cursor = body["cursor"]
        except Exception as exc:  # the transport itself failed: reconnect, keep the cursor
            seen.errors.append(repr(exc)[:200])
            await asyncio.sleep(0.2)


@pytest.fixture
async def replication_proxy() -> AsyncIterator[tuple[SentinelGroup, FaultProxy]]:
    group = SentinelGroup(replicas=1)
    proxy = FaultProxy(group.master.port)
    await proxy.start()
    try:
        await asyncio.to_thread(group.start, proxy.port)
        yield group, proxy
    finally:
        await proxy.stop()
        await asyncio.to_thread(group.cleanup)


async def seq_of(port: int, names: Names) -> int:
    client = aioredis.Redis(port=port, decode_responses=True, socket_timeout=2)
    try:
        return int(await client.get(names.seq) or 0)
    finally:
        await client.aclose()


async def stats_after(port: int, names: Names, after: int) -> list[tuple[int, int]]:
    """(id, ts_ms) of the stats events above ``after`` that the server at ``port`` holds."""
    client = aioredis.Redis(port=port, decode_responses=True, socket_timeout=2)
    try:
        entries: list[tuple[str, dict[str, str]]] = await client.xrange(  # type: ignore[assignment]
            names.history("stats"), f"({after}-0", "+"
        )
    finally:
        await client.aclose()
    return [(int(entry_id.split("-")[0]), Event.from_json(fields["e"]).ts_ms) for entry_id, fields in entries]


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_sentinel_failover_with_unreplicated_writes_loses_nothing_silently(
    replication_proxy: tuple[SentinelGroup, FaultProxy], key_prefix: str
) -> None:
    group, proxy = replication_proxy
    names = Names(key_prefix, "mainnet")
    master, replica = group.master, group.replicas[0]
    seen = Seen()
    stack: Stack
    async with running_stack(group.url, key_prefix, gateways=1) as stack:
        consumer = asyncio.create_task(consume(stack.mcp_url(), seen))
        try:
            await until(lambda: len(seen.events) >= 5, 30, "stats at the consumer before the failover")
            proxy.mode = "blackhole"
            replicated = await seq_of(replica.port, names)

            async def unreplicated() -> int | None:
                ahead = await seq_of(master.port, names) - replicated
                return ahead if ahead >= LOST_AT_LEAST else None

            await eventually(unreplicated, 20, f"{LOST_AT_LEAST} events the replica lacks")
            lost_stats = await stats_after(master.port, names, replicated)
            given = await seq_of(master.port, names)
            await asyncio.to_thread(master.kill)
            killed_at = time.monotonic()
            before_kill = len(seen.events)
            max_before = max(seen.ids())

            async def promoted() -> bool | None:
                return True if await asyncio.to_thread(group.sentinels[0].master_port) == replica.port else None

            await eventually(promoted, 30, "the sentinels to promote the replica")
            promoted_s = time.monotonic() - killed_at
            await until(
                lambda: any(int(e["id"]) > given for _, e in seen.events[before_kill:]),
                DELIVERED_AGAIN_WITHIN_S,
                "the stream to deliver events above every id given before the failover",
            )
            first_after = next(t for t, e in seen.events[before_kill:] if int(e["id"]) > given)
            await until(lambda: any("gap" in e["data"] for _, e in seen.events[before_kill:]), 15, "a gap notice")
            await asyncio.sleep(1.0)  # a few more events after the notice
        finally:
            logs = "\n".join(process.output() for process in stack.processes)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
    ids = seen.ids()
    after = [event for _, event in seen.events[before_kill:]]
    notices = [event["data"]["gap"] for event in after if "gap" in event["data"]]
    missed = [(seq, ts) for seq, ts in lost_stats if seq not in set(ids)]
    figures(
        "sentinel-failover",
        unreplicated_events=given - replicated,
        lost_stats_events=len(lost_stats),
        lost_stats_not_seen_live=len(missed),
        promoted_after_s=promoted_s,
        delivering_again_after_s=first_after - killed_at,
        ids_around=f"{max_before} .. {min(int(e['id']) for e in after)}",
        gap_notices=len(notices),
        consumer_errors=len(seen.errors),
    )
    assert first_after - killed_at < DELIVERED_AGAIN_WITHIN_S
    assert ids == sorted(set(ids)), "ids only increase: none is given out twice in the epoch"
    assert min(int(e["id"]) for e in after) > max_before
    assert notices, "a gap notice marks what the failover lost"
    for seq, ts in lost_stats:
        assert any(gap["from_ts_ms"] <= ts <= gap["to_ts_ms"] for gap in notices), f"lost stats event {seq} is marked"
    assert "lost events it had acknowledged" in logs
    assert "Traceback" not in logs
