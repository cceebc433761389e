"""The system under measurement, each part its own process: redis-server, the bench upstream, the
ingestor (``mempool-ws ingest``) and one gateway (``mempool-ws gateway``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis
from websockets.asyncio.client import ClientConnection, connect

from bench.mcpwire import McpConnection, call_request
from bench.procfs import CpuWindow, local_ports_to
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_http_ok
from tests.support.redis_server import RedisServer

KEY_PREFIX = "bench"
INGEST_ENV = {"MEMPOOL_WS_STATUS_INTERVAL_S": "1", "MEMPOOL_WS_BACKOFF_MAX_S": "1"}
GATEWAY_ENV = {"MEMPOOL_WS_MAX_CONCURRENT_STREAMS": "20000"}
"""The fan-out runs go past the default limit (sized for a 256 MiB pod) to find where delivery degrades."""


@dataclass
class Stack:
    """Addresses and processes of the running system."""

    redis: RedisServer
    upstream: subprocess.Popen[bytes]
    upstream_port: int
    ingest: ServiceProcess
    ingest_port: int
    gateway: ServiceProcess | None = None
    gateway_port: int = 0
    control: ClientConnection | None = None
    gateway_env: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_pid(self) -> int:
        """The gateway's process id."""
        assert self.gateway is not None
        return self.gateway.pid

    async def act(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one ``bench-*`` action to the upstream and return its reply."""
        assert self.control is not None
        await self.control.send(json.dumps(message))
        reply: dict[str, Any] = json.loads(await self.control.recv())
        return reply

    async def emit(self, count: int, rate_hz: float) -> dict[int, float]:
        """Emit ``count`` stamped stats frames at ``rate_hz``; return their send times by sequence."""
        reply = await self.act({"action": "bench-emit", "count": count, "rate_hz": rate_hz})
        return {int(seq): float(sent) for seq, sent in reply["bench-sent"]}

    async def active_streams(self) -> int:
        """Stream calls the gateway holds now (from its /readyz)."""
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.get(f"http://127.0.0.1:{self.gateway_port}/readyz")
        return int(response.json()["active_streams"])

    async def wait_streams(self, count: int, timeout_s: float) -> int:
        """Wait until the gateway holds ``count`` stream calls; return how many it holds."""
        deadline = time.monotonic() + timeout_s
        held = await self.active_streams()
        while held < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            held = await self.active_streams()
        return held

    async def wait_quiet(self, timeout_s: float, below_cores: float = 0.05, window_s: float = 0.5) -> float:
        """Wait until the gateway has finished setting up calls (its CPU share drops); return that share."""
        deadline = time.monotonic() + timeout_s
        while True:
            window = CpuWindow(self.gateway_pid).start()
            await asyncio.sleep(window_s)
            share = window.share()
            if share < below_cores or time.monotonic() > deadline:
                return share

    async def wait_streams_gone(self, timeout_s: float) -> None:
        """Wait until the gateway holds no stream call (the previous run's calls have ended)."""
        deadline = time.monotonic() + timeout_s
        while await self.active_streams() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)

    def redis_connections(self) -> dict[str, int]:
        """Redis connections of the gateway process: by its sockets, and as CLIENT LIST sees them."""
        ports = local_ports_to(self.gateway_pid, self.redis.port)
        client = redis.Redis(host="127.0.0.1", port=self.redis.port)
        try:
            clients = client.client_list()
        finally:
            client.close()
        listed = [c for c in clients if int(str(c["addr"]).rsplit(":", 1)[1]) in ports]
        return {"gateway_sockets": len(ports), "client_list": len(listed), "redis_total": len(clients)}

    async def start_gateway(self) -> None:
        """(Re)start the gateway process and wait until a tool call succeeds."""
        await self.stop_gateway()
        port = free_port()
        args = ["gateway", "--port", str(port), "--redis-url", self.redis.url, "--key-prefix", KEY_PREFIX]
        self.gateway = ServiceProcess(args, env=self.gateway_env).start()
        self.gateway_port = port
        await wait_http_ok(f"http://127.0.0.1:{port}/readyz", 30)
        await _wait_fresh(port, 30)

    async def stop_gateway(self) -> None:
        """Stop the gateway process if one runs."""
        if self.gateway is not None:
            await asyncio.to_thread(self.gateway.stop)
            self.gateway = None


async def _wait_fresh(port: int, timeout_s: float) -> None:
    """Wait until ``stream_stats want=false`` answers with a result (the ingestor status is visible)."""
    deadline = time.monotonic() + timeout_s
    request = call_request(f"127.0.0.1:{port}", "stream_stats", {"want": False}, 1, progress=False)
    last = b""
    while time.monotonic() < deadline:
        connection = await McpConnection.open("127.0.0.1", port)
        try:
            reply = await asyncio.wait_for(connection.send(request), 5)
        finally:
            connection.close()
        if reply.ok:
            return
        last = reply.message
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the gateway on port {port} never served fresh data: {last[:300]!r}")


def _start_upstream(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.upstream", "--port", str(port)], stdout=subprocess.PIPE, stderr=None
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != b"ready":
        process.kill()
        raise RuntimeError(f"bench upstream failed to start: {line!r}")
    return process


@contextlib.asynccontextmanager
async def running_stack(gateway_env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    """Start Redis, the bench upstream, the ingestor and a gateway; stop them all on exit."""
    server = RedisServer()
    server.start()
    upstream_port, ingest_port = free_port(), free_port()
    upstream = await asyncio.to_thread(_start_upstream, upstream_port)
    ingest = ServiceProcess(
        [
            "ingest",
            *("--upstream-url", f"ws://127.0.0.1:{upstream_port}/api/v1/ws"),
            *("--redis-url", server.url, "--key-prefix", KEY_PREFIX, "--metrics-port", str(ingest_port)),
        ],
        env=INGEST_ENV,
    ).start()
    stack = Stack(
        server, upstream, upstream_port, ingest, ingest_port, gateway_env={**GATEWAY_ENV, **(gateway_env or {})}
    )
    try:
        await wait_http_ok(f"http://127.0.0.1:{ingest_port}/readyz", 30)
        stack.control = await connect(f"ws://127.0.0.1:{upstream_port}/control", max_size=None)
        # A stats event on the bus before the first gateway waits for fresh data: a pull of a topic with no
        # event is a refusal ("no stats event yet"), and the upstream answers `want` with blocks only.
        await stack.emit(1, 10.0)
        await stack.start_gateway()
        yield stack
    finally:
        if stack.control is not None:
            await stack.control.close()
        await stack.stop_gateway()
        await asyncio.to_thread(ingest.stop)
        upstream.terminate()
        await asyncio.to_thread(upstream.wait, 10)
        await asyncio.to_thread(server.cleanup)
