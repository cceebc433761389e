"""A whole deployment on loopback for end-to-end tests: simulator, Redis, ingestor and gateway processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from shared.bus.location import parse_redis_url
from shared.channels import Names
from shared.settings import SimSettings
from simulator import Simulator
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_http_ok

FAST_INGEST_ENV = {
    "MEMPOOL_WS_BACKOFF_INITIAL_S": "0.1",
    "MEMPOOL_WS_BACKOFF_MAX_S": "1",
    "MEMPOOL_WS_LEASE_POLL_INTERVAL_S": "0.1",
    "MEMPOOL_WS_STATUS_INTERVAL_S": "0.3",
}
FAST_GATEWAY_ENV = {"MEMPOOL_WS_SHUTDOWN_DRAIN_S": "0.2"}


@dataclass
class Stack:
    """URLs and processes of a running deployment."""

    redis_url: str
    prefix: str
    sim: Simulator
    gateways: list[str] = field(default_factory=list)
    processes: list[ServiceProcess] = field(default_factory=list)

    def mcp_url(self, index: int = 0) -> str:
        """The MCP endpoint of gateway ``index``."""
        return f"{self.gateways[index]}/mcp"

    @property
    def cluster(self) -> bool:
        """Whether the bus is a Redis Cluster (hash-tagged names, shard channels)."""
        return parse_redis_url(self.redis_url).topology == "cluster"

    @property
    def names(self) -> Names:
        """The mainnet names of this deployment, in its Redis topology."""
        return Names(self.prefix, "mainnet", cluster=self.cluster)

    @contextlib.asynccontextmanager
    async def redis(self) -> AsyncIterator[Any]:
        """A decoded redis-py asyncio client of the bus's data (``RedisCluster`` on a cluster)."""
        client: Any
        if self.cluster:
            host, port = parse_redis_url(self.redis_url).hosts[0]
            client = await RedisCluster(host=host, port=port, decode_responses=True).initialize()
        else:
            client = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
        try:
            yield client
        finally:
            await client.aclose()

    async def subscribers(self, client: Any, channel: str) -> int:
        """Redis's count of subscribers of ``channel`` (shard subscribers on a cluster)."""
        if not self.cluster:
            [(_, count)] = await client.pubsub_numsub(channel)
            return int(count)
        [(_, count)] = await client.pubsub_shardnumsub(channel, target_nodes=client.get_node_from_key(channel))
        return int(count)


async def wait_ready(url: str, timeout: float = 20.0) -> None:
    """Wait until GET ``url`` answers 200."""
    await wait_http_ok(url, timeout)


@contextlib.asynccontextmanager
async def running_stack(
    redis_url: str,
    prefix: str,
    *,
    gateways: int = 1,
    gateway_env: dict[str, str] | None = None,
    sim_settings: SimSettings | None = None,
) -> AsyncIterator[Stack]:
    """Start the simulator (in this process; by default a block about every 0.5 s), one ingestor and
    ``gateways`` gateway processes."""
    async with Simulator(sim_settings or SimSettings(port=0, speed=1200, tick_s=0.1, seed=11)) as sim:
        stack = Stack(redis_url=redis_url, prefix=prefix, sim=sim)
        common = ["--redis-url", redis_url, "--key-prefix", prefix]
        metrics_port = free_port()
        ingest = ServiceProcess(
            ["ingest", "--upstream-url", sim.ws_url, "--metrics-port", str(metrics_port), *common],
            env={**FAST_INGEST_ENV, "MEMPOOL_WS_UPSTREAM_REST_URL": f"{sim.http_url}/api"},
        ).start()
        stack.processes.append(ingest)
        try:
            for _ in range(gateways):
                port = free_port()
                process = ServiceProcess(
                    ["gateway", "--port", str(port), *common], env={**FAST_GATEWAY_ENV, **(gateway_env or {})}
                ).start()
                stack.processes.append(process)
                stack.gateways.append(f"http://127.0.0.1:{port}")
            await wait_ready(f"http://127.0.0.1:{metrics_port}/readyz")
            for url in stack.gateways:
                await wait_ready(f"{url}/readyz")
            for process in stack.processes:
                assert process.alive(), f"a service exited during startup:\n{process.output()[-2000:]}"
            yield stack
        finally:
            for process in stack.processes:
                await asyncio.to_thread(process.stop)
