"""The fault injectors: each applies one :class:`~tests.checker.schedule.Step` to the running stack.

Every injector returns after the fault is over (the component restarted, the setting restored), so the
plan's pause follows a healed stack; healing itself is the product's business.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import redis.asyncio as aioredis

from tests.checker.consumers import Consumer
from tests.checker.schedule import Step
from tests.checker.stack import Stack
from tests.support.ports import free_port

GARBAGE = (
    "{not json",
    "[1, 2",
    '{"unknownKey": 1}',
    '{"mempoolInfo": "bad"}',
    '{"blocks": [{"height": "x"}]}',
    "\x00\x01\x02",
    '{"fees": {"fastestFee": null}}',
    "null",
    '"text"',
    '{"live-2h-chart": {"added": "never"}}',
)


class Injector:
    """Applies faults to ``stack`` and the ``consumers``; counts what it did."""

    def __init__(self, stack: Stack, consumers: list[Consumer]) -> None:
        self.stack = stack
        self.consumers = consumers
        self.log: list[str] = []
        self.overflow_drops = 0.0
        """Events the ingestors counted as dropped for overflow during the bursts."""
        self.skipped: list[str] = []
        """Faults that could not be applied as planned (e.g. no leader at that moment), with the reason."""

    async def apply(self, step: Step) -> None:
        """Apply one fault and wait until it is over."""
        action: Callable[[Step], Awaitable[None]] = getattr(self, step.kind)
        await action(step)

    def _redis(self) -> aioredis.Redis:
        return aioredis.Redis(host="127.0.0.1", port=self.stack.redis.port, socket_timeout=5, socket_connect_timeout=2)

    async def redis_restart(self, step: Step) -> None:
        """Redis killed (SIGKILL) and started again empty on the same port."""
        self.stack.redis_expected_down = True
        await asyncio.to_thread(self.stack.redis.kill)
        await asyncio.sleep(step.duration_s)
        await asyncio.to_thread(self.stack.redis.start)
        self.stack.redis_expected_down = False

    async def redis_slow(self, step: Step) -> None:
        """Every daemon's Redis traffic delayed by ``amount`` seconds each way."""
        for proxy in self.stack.all_proxies:
            proxy.latency_s = step.amount
        await asyncio.sleep(step.duration_s)
        for proxy in self.stack.all_proxies:
            proxy.latency_s = 0.0

    async def redis_pause(self, step: Step) -> None:
        """redis-server stopped (SIGSTOP), then continued (SIGCONT)."""
        pid = self.stack.redis_pid()
        if pid is None:
            self.skipped.append("redis_pause: Redis not running")
            return
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(step.duration_s)
        finally:
            os.kill(pid, signal.SIGCONT)

    async def redis_oom(self, step: Step) -> None:
        """``maxmemory 1`` with ``noeviction``: every write refused as out of memory; then restored."""
        client = self._redis()
        try:
            reply: dict[Any, Any] = dict(await client.config_get("maxmemory-policy"))
            policy = reply.get(b"maxmemory-policy") or reply.get("maxmemory-policy") or "noeviction"
            await client.config_set("maxmemory-policy", "noeviction")
            await client.config_set("maxmemory", 1)
            await asyncio.sleep(step.duration_s)
            await client.config_set("maxmemory", 0)
            await client.config_set("maxmemory-policy", policy.decode() if isinstance(policy, bytes) else str(policy))
        finally:
            await client.aclose()

    async def redis_replica(self, step: Step) -> None:
        """Redis made a read-only replica (of a loopback port nobody listens on), then a master again."""
        client = self._redis()
        try:
            await client.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
            await asyncio.sleep(step.duration_s)
            await client.execute_command("REPLICAOF", "NO", "ONE")
        finally:
            await client.aclose()

    async def _leader(self) -> int | None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            leader = await self.stack.leader()
            if leader is not None:
                return leader
            await asyncio.sleep(0.2)
        return None

    async def leader_kill(self, step: Step) -> None:
        """The leading ingestor killed (SIGKILL), started again after ``duration``."""
        leader = await self._leader()
        if leader is None:
            self.skipped.append("leader_kill: no leader within 10 s")
            return
        daemon = self.stack.ingestors[leader]
        await asyncio.to_thread(daemon.kill, signal.SIGKILL)
        await asyncio.sleep(step.duration_s)
        daemon.start()

    async def leader_cutoff(self, step: Step) -> None:
        """The leading ingestor's connections to Redis blackholed (open, nothing passes), then restored."""
        leader = await self._leader()
        if leader is None:
            self.skipped.append("leader_cutoff: no leader within 10 s")
            return
        proxy = self.stack.ingest_proxies[leader]
        proxy.mode = "blackhole"
        await asyncio.sleep(step.duration_s)
        proxy.mode = "pass"

    async def gateway_kill(self, step: Step) -> None:
        """A gateway killed (SIGKILL), started again on the same port after ``duration``."""
        daemon = self.stack.gateways[int(step.amount) % len(self.stack.gateways)]
        await asyncio.to_thread(daemon.kill, signal.SIGKILL)
        await asyncio.sleep(step.duration_s)
        daemon.start()

    async def upstream_offline(self, step: Step) -> None:
        """The simulator drops every socket and refuses connections for ``duration``; the chain goes on."""
        async with httpx.AsyncClient(timeout=5) as client:
            await client.get(f"{self.stack.sim_url}/_sim/offline", params={"seconds": f"{step.duration_s:.2f}"})
        await asyncio.sleep(step.duration_s + 0.2)

    async def garbage_frames(self, step: Step) -> None:
        """``amount`` bad frames (unreadable JSON, wrong types, unknown keys) sent on every upstream socket."""
        async with httpx.AsyncClient(timeout=5) as client:
            for n in range(int(step.amount)):
                await client.get(f"{self.stack.sim_url}/_sim/inject", params={"frame": GARBAGE[n % len(GARBAGE)]})

    async def burst(self, step: Step) -> None:
        """``amount`` chart frames as fast as the simulator takes them while Redis is 1 s away from the
        ingestors: far beyond the publish queue (200 items in the checker), so reads pause and work drops."""
        metric = ("ingestor_events_dropped_total", {"reason": "overflow"})
        before = await self.stack.ingest_metric(*metric)
        for proxy in self.stack.ingest_proxies:
            proxy.latency_s = 1.0
        try:
            now = int(time.time())
            frames = [
                json.dumps(
                    {
                        "live-2h-chart": {
                            "added": now,
                            "count": n,
                            "vbytes_per_second": 1000,
                            "total_fee": 1,
                            "mempool_byte_weight": 4,
                            "min_fee": 1.0,
                            "vsizes": [0] * 38,
                        }
                    }
                )
                for n in range(int(step.amount))
            ]
            limit = asyncio.Semaphore(16)
            async with httpx.AsyncClient(timeout=10) as client:

                async def send(frame: str) -> None:
                    async with limit:
                        await client.get(f"{self.stack.sim_url}/_sim/inject", params={"frame": frame})

                await asyncio.gather(*(send(frame) for frame in frames), return_exceptions=True)
            await asyncio.sleep(step.duration_s)
        finally:
            for proxy in self.stack.ingest_proxies:
                proxy.latency_s = 0.0
        self.overflow_drops += max(0.0, await self.stack.ingest_metric(*metric) - before)

    async def client_kill(self, step: Step) -> None:
        """A consumer killed (its loop cancelled) and started again from its last cursor after ``duration``."""
        consumer = self.consumers[int(step.amount) % len(self.consumers)]
        await consumer.kill()
        await asyncio.sleep(step.duration_s)
        consumer.start()
