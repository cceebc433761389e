"""A gateway process to attack over raw HTTP, and what the hostile-HTTP tests measure of it.

The gateway requires a bearer token (so every bound is shown to hold before auth) and has short
timeouts (head 2 s, body 2 s, idle keep-alive 1 s); its size and count limits are the defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import redis
from fastmcp import Client

from tests.faults.helpers import Deployment, rss_mib
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, http_ok, wait_until

TOKEN = "hostile-http-t0ken"
HEAD_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
IDLE_S = 1.0
LIMITS_ENV = {
    "MEMPOOL_WS_AUTH_TOKEN": TOKEN,
    "MEMPOOL_WS_HTTP_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S),
    "MEMPOOL_WS_HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    "MEMPOOL_WS_HTTP_KEEP_ALIVE_IDLE_S": str(IDLE_S),
}
MIB = 1024 * 1024
MAX_HEADER_COUNT = 100  # the defaults (test_hostile_http.py checks them against the settings)
MAX_BODY_BYTES = 64 * 1024
SLOWLORIS = 1000


@dataclass
class Target:
    """A gateway process under attack."""

    process: ServiceProcess
    url: str

    @property
    def port(self) -> int:
        """Its port."""
        return int(self.url.rsplit(":", 1)[1])

    def rss(self) -> float:
        """Its resident memory, MiB."""
        return rss_mib(self.process.pid)

    def fds(self) -> int:
        """Its open file descriptors."""
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))


@contextlib.contextmanager
def running_target(redis_url: str) -> Iterator[Target]:
    """A gateway (token required, short timeouts) fed by an ingestor and a simulator, all processes."""
    deployment = Deployment(redis_url, f"t{uuid.uuid4().hex[:12]}")
    sim_port = free_port()
    try:
        deployment.sim(sim_port, time.time(), tick_s=0.05)
        upstream = f"http://127.0.0.1:{sim_port}"
        _, ingest_url = deployment.ingest(f"ws://127.0.0.1:{sim_port}/api/v1/ws", f"{upstream}/api")
        process, url = deployment.gateway(env=LIMITS_ENV)
        wait_until(lambda: http_ok(f"{ingest_url}/readyz") and http_ok(f"{url}/readyz"), 60, "both ready")
        yield Target(process, url)
    finally:
        for process in deployment.processes:
            process.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{deployment.prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


async def served(target: Target) -> float:
    """Seconds a real MCP client takes to connect and get a result from ``health``."""
    started = time.monotonic()
    async with asyncio.timeout(20), Client(f"{target.url}/mcp", auth=TOKEN) as client:
        result = await client.call_tool("health", {})
    assert result.structured_content is not None
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def rss_samples(target: Target, every_s: float = 0.02) -> AsyncIterator[list[float]]:
    """RSS of the target (MiB) sampled while the block runs."""
    samples = [target.rss()]

    async def sample() -> None:
        while True:
            await asyncio.sleep(every_s)
            samples.append(target.rss())

    sampler = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response (0 when there is none)."""
    parts = response.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and response.startswith(b"HTTP/1.1 ") and parts[1].isdigit() else 0


async def exchange(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send ``request`` on a new connection; everything read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
