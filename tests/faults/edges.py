"""Helpers of the edge tests (issue 11): one tool call as an outcome, Redis restarts, log checks."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from fastmcp import Client
from fastmcp.exceptions import ToolError

from tests.faults.helpers import eventually
from tests.support.redis_server import RedisServer


@dataclass
class Outcome:
    """What one tool call gave: its structured result or its error text, how long it took, its progress."""

    body: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0
    progress: list[str] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of the result (none for an error)."""
        return list((self.body or {}).get("events", []))


async def call_tool(url: str, tool: str, arguments: dict[str, Any], client: Client[Any] | None = None) -> Outcome:
    """Call ``tool`` over HTTP with a progress handler; a tool error becomes an outcome, not an exception."""
    outcome = Outcome()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        outcome.progress.append(message or "")

    started = time.monotonic()
    try:
        if client is not None:
            result = await client.call_tool(tool, arguments, progress_handler=on_progress)
        else:
            async with Client(url) as own:
                result = await own.call_tool(tool, arguments, progress_handler=on_progress)
        outcome.body = result.structured_content
    except ToolError as exc:
        outcome.error = str(exc)
    outcome.seconds = time.monotonic() - started
    return outcome


def progress_cursors(outcome: Outcome) -> list[str]:
    """The ``cursor`` of every progress message of a call."""
    return [json.loads(message)["cursor"] for message in outcome.progress]


async def latest_ts_ms(url: str, prefix: str, topic: str = "stats") -> int:
    """``ts_ms`` of the newest event of ``topic`` on mainnet (0 when none or Redis does not answer)."""
    client = aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=0.5)
    try:
        raw = await client.get(f"{prefix}:mainnet:{topic}:latest")
    except (aioredis.RedisError, OSError):
        return 0
    finally:
        await client.aclose()
    return int(json.loads(raw)["ts_ms"]) if raw else 0


async def restart_empty(server: RedisServer) -> float:
    """Kill ``server`` and start it again at once on the same port, empty; return the Unix time it answers."""
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(server.start)
    return time.time()


async def wait_published_since(url: str, prefix: str, since_unix_s: float, timeout: float = 20.0) -> None:
    """Wait until the ingestor has published stats after ``since_unix_s``."""

    async def fresh() -> bool:
        return await latest_ts_ms(url, prefix) / 1000 > since_unix_s

    await eventually(fresh, timeout, "stats published again")


def error_lines(logs: str) -> list[str]:
    """Log lines at ERROR or above, and tracebacks."""
    return [line for line in logs.splitlines() if " ERROR " in line or "CRITICAL" in line or "Traceback" in line]
