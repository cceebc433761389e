"""Locust scenario: virtual agents calling the gateway over the raw 2026-07-28 MCP wire.

Run by ``python -m bench`` as
``uvx --from locust==2.47.0 locust -f bench/locustfile.py --headless -u N -r N -t 20s --host http://127.0.0.1:PORT``.
Each agent makes one call per second from a random phase (so N agents are N requests/s spread over
the second, not a burst): nine in ten are
``stream_stats want=false`` snapshots, one in ten waits for the next stats event (``want=true``,
``max_events=1``). Calls use a blocking ``http.client`` connection (Locust runs on gevent) and send
one modern POST each: ``MCP-Protocol-Version``, ``Mcp-Method`` and ``Mcp-Name`` headers and
``params._meta`` with the protocol version, client capabilities and a progress token.

Raw response times (not Locust's rounded buckets) go to ``$BENCH_LOCUST_SAMPLES`` as JSON when it is set.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from locust import User, events, task  # type: ignore[import-not-found]

PROTOCOL_VERSION = "2026-07-28"
SAMPLES: list[tuple[str, float, bool]] = []


def _request(tool: str, arguments: dict[str, Any], request_id: int, progress: bool) -> tuple[bytes, dict[str, str]]:
    meta: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    if progress:
        meta["progressToken"] = f"p{request_id}"
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta},
    }
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL_VERSION,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    return json.dumps(body, separators=(",", ":")).encode(), headers


class _Connection(http.client.HTTPConnection):
    """http.client sends headers and body in two writes: without TCP_NODELAY, Nagle holds the body."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class McpAgent(User):  # type: ignore[misc]
    """A virtual agent: one MCP call per second on its own keep-alive connection."""

    def on_start(self) -> None:
        """Open the agent's connection, then start at a random point of the second.

        Locust starts a batch of users at one instant, and ``constant_throughput`` paces each from
        that instant, which turns N independent agents into one burst of N calls every second.
        """
        parts = urlsplit(self.host)
        self._connection = _Connection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        self._ids = itertools.count(1)
        time.sleep(random.random())  # gevent-patched: yields to the other agents
        self._next_call = time.perf_counter()

    def wait_time(self) -> float:
        """One call per second, paced from this agent's own start."""
        self._next_call += 1.0
        return max(0.0, self._next_call - time.perf_counter())

    def on_stop(self) -> None:
        """Close the agent's connection."""
        self._connection.close()

    def _call(self, name: str, tool: str, arguments: dict[str, Any], progress: bool) -> None:
        body, headers = _request(tool, arguments, next(self._ids), progress)
        started = time.perf_counter()
        error: Exception | None = None
        length = 0
        try:
            self._connection.request("POST", "/mcp", body, headers)
            response = self._connection.getresponse()
            data = response.read()
            length = len(data)
            if response.status != 200 or b'"result"' not in data or b'"isError":true' in data:
                error = RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        except (OSError, http.client.HTTPException) as exc:
            error = exc
            self._connection.close()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.environment.events.request.fire(
            request_type="MCP", name=name, response_time=elapsed_ms, response_length=length, exception=error, context={}
        )

    @task(9)  # type: ignore[untyped-decorator]
    def snapshot(self) -> None:
        """The current stats at once."""
        self._call("stream_stats want=false", "stream_stats", {"want": False}, progress=False)

    @task(1)  # type: ignore[untyped-decorator]
    def next_stats(self) -> None:
        """Wait for the next stats event."""
        self._call("stream_stats want=true (next event)", "stream_stats", {"max_events": 1, "timeout_s": 10}, True)


@events.request.add_listener  # type: ignore[untyped-decorator]
def _record(name: str, response_time: float, exception: Exception | None, **_: Any) -> None:
    SAMPLES.append((name, response_time, exception is None))


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _write(**_: Any) -> None:
    target = os.environ.get("BENCH_LOCUST_SAMPLES")
    if target:
        with open(target, "w") as out:
            json.dump(SAMPLES, out)
