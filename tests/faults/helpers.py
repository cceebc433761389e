"""Helpers of the fault tests: processes of a deployment, polling, metrics scraping and figures."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.stack import FAST_GATEWAY_ENV as STACK_GATEWAY_ENV
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_http_ok

T = TypeVar("T")

FAST_INGEST_ENV = {
    "MEMPOOL_WS_BACKOFF_INITIAL_S": "0.05",
    "MEMPOOL_WS_BACKOFF_MAX_S": "0.5",
    "MEMPOOL_WS_HEALTHY_AFTER_S": "0.3",
    "MEMPOOL_WS_LEASE_POLL_INTERVAL_S": "0.1",
    "MEMPOOL_WS_STATUS_INTERVAL_S": "0.3",
    "MEMPOOL_WS_LEADER_TTL_S": "3",
    "MEMPOOL_WS_LEADER_RENEW_S": "0.5",
    "MEMPOOL_WS_REDIS_RETRY_MAX_S": "0.5",
}
FAST_GATEWAY_ENV = {**STACK_GATEWAY_ENV, "MEMPOOL_WS_REDIS_RETRY_MAX_S": "0.5", "MEMPOOL_WS_LEASE_RENEW_S": "1"}


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str, interval: float = 0.05) -> T:
    """Await ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll the synchronous ``predicate`` (without blocking the loop) until true; fail after ``timeout`` s."""

    async def check() -> bool:
        return predicate()

    await eventually(check, timeout, what, interval)


async def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> httpx.Response | None:
    """GET ``url``; None when nothing answers."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        try:
            return await client.get(url, headers=headers)
        except httpx.HTTPError:
            return None


async def status_of(url: str) -> int:
    """The HTTP status of GET ``url``, 0 when nothing answers."""
    response = await http_get(url)
    return response.status_code if response is not None else 0


async def scrape(url: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of one sample of ``name`` in the Prometheus text at ``url`` (0 when absent)."""
    response = await http_get(url)
    if response is None:
        return 0.0
    return metric_value(response.text, name, labels)


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                total += sample.value
    return total


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def figures(label: str, **values: Any) -> None:
    """Print the measured figures of a scenario (they go into RELIABILITY.md; run pytest with -s)."""
    shown = ", ".join(f"{key}={_fmt(value)}" for key, value in values.items())
    print(f"\nFIGURES {label}: {shown}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return f"[{', '.join(f'{v:.2f}' for v in value)}] (median {statistics.median(value):.2f})"
    return str(value)


class Deployment:
    """Processes of one deployment under test; everything is stopped by :meth:`stop_all`."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.processes: list[ServiceProcess] = []

    def _common(self) -> list[str]:
        return ["--redis-url", self.redis_url, "--key-prefix", self.prefix]

    def ingest(self, upstream_url: str, rest_url: str, env: dict[str, str] | None = None) -> tuple[ServiceProcess, str]:
        """Start an ingestor; return it and its probe base URL."""
        port = free_port()
        process = ServiceProcess(
            ["ingest", "--upstream-url", upstream_url, "--metrics-port", str(port), *self._common()],
            env={**FAST_INGEST_ENV, "MEMPOOL_WS_UPSTREAM_REST_URL": rest_url, **(env or {})},
        ).start()
        self.processes.append(process)
        return process, f"http://127.0.0.1:{port}"

    def gateway(self, env: dict[str, str] | None = None, port: int | None = None) -> tuple[ServiceProcess, str]:
        """Start a gateway; return it and its base URL (``/mcp``, ``/readyz`` ...)."""
        port = port or free_port()
        process = ServiceProcess(
            ["gateway", "--port", str(port), *self._common()], env={**FAST_GATEWAY_ENV, **(env or {})}
        ).start()
        self.processes.append(process)
        return process, f"http://127.0.0.1:{port}"

    def sim(self, port: int, anchor: float, speed: float = 1200, tick_s: float = 0.1) -> ServiceProcess:
        """Start a simulator process on ``port`` (same anchor and seed: same chain after a restart)."""
        args = ["sim", "--port", str(port), "--speed", str(speed), "--tick-s", str(tick_s)]
        process = ServiceProcess([*args, "--anchor-unix-s", str(anchor)]).start()
        self.processes.append(process)
        return process

    async def stop_all(self) -> None:
        """Stop every process started (SIGTERM, then SIGKILL)."""
        for process in self.processes:
            await asyncio.to_thread(process.stop)

    def output(self) -> str:
        """Everything every process printed."""
        return "\n".join(process.output() for process in self.processes)


async def wait_ready(*urls: str, timeout: float = 20.0) -> None:
    """Wait until every ``{url}/readyz`` answers 200."""
    for url in urls:
        await wait_http_ok(f"{url}/readyz", timeout)


def raw_tool_call(port: int, tool: str, arguments: dict[str, Any], request_id: int = 1) -> bytes:
    """One MCP ``tools/call`` (2026-07-28, progress requested) as raw HTTP/1.1 bytes."""
    meta = {
        "progressToken": f"p{request_id}",
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": tool, "arguments": arguments, "_meta": meta}
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\naccept: application/json, text/event-stream\r\n"
        f"content-type: application/json\r\nmcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\n"
        f"mcp-name: {tool}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
