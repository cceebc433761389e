"""The consumers: agents looping on cursors through ``stream()``, and a Redis-native subscriber.

Each :class:`Consumer` runs the client helper ``mcp_gateway.client.stream()`` (a fastmcp client over real
HTTP) and keeps every item it yields, in order. Its client times every tool call (the helper opens its own
sessions with ``client.new()``, which keeps the subclass and the shared list of timings). Killing a
consumer cancels its loop; starting it again resumes from the cursor of the last item it got, as an agent
restarted from a saved cursor would.

The :class:`RedisSubscriber` is a plain redis-py ``SUBSCRIBE`` on the documented channels, reconnecting
whenever the connection drops; it checks the envelopes and that ids increase within one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import redis.asyncio as aioredis
from fastmcp import Client

from mcp_gateway.client import stream
from tests.checker.oracle import CallTiming, Received


class TimedClient(Client[Any]):
    """A fastmcp client that records how long each tool call took against its ``timeout_s``."""

    timings: list[CallTiming]

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Call the tool and record the call (a cancelled call is not recorded: we ended it)."""
        started = time.monotonic()
        started_ms = int(time.time() * 1000)
        timeout_s = float((arguments or {}).get("timeout_s", 30.0))
        outcome = "result"
        try:
            return await super().call_tool(name, arguments, **kwargs)
        except asyncio.CancelledError:
            outcome = ""
            raise
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            if outcome:
                self.timings.append(CallTiming(name, timeout_s, time.monotonic() - started, outcome, started_ms))


class Consumer:
    """One agent looping on a stream tool with its cursor."""

    def __init__(self, name: str, url: str, tool: str, kind: str, *, timeout_s: float, **arguments: Any) -> None:
        self.url = url
        self.tool = tool
        self.arguments = arguments
        self.timeout_s = timeout_s
        self.received = Received(name, kind, arguments.get("address"))
        self.cursor: str | None = None
        self.errors: list[str] = []
        """Errors the helper raised (it retries every passing failure, so each is a refusal)."""
        self.kills = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """The consumer's name."""
        return self.received.name

    def start(self) -> None:
        """Start (or restart from the last cursor)."""
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def kill(self) -> None:
        """Cancel the loop at once, as a killed client would stop."""
        self.kills += 1
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            client = TimedClient(f"{self.url}/mcp")
            client.timings = self.received.calls
            try:
                async for item in stream(
                    client,
                    self.tool,
                    cursor=self.cursor,
                    max_events=50,
                    timeout_s=self.timeout_s,
                    retry_delay_s=0.2,
                    max_retry_delay_s=1.0,
                    **self.arguments,
                ):
                    self.received.items.append(item)
                    if isinstance(item.get("cursor"), str):
                        self.cursor = item["cursor"]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.errors.append(f"{self.name}: {self.tool} raised {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)


class RedisSubscriber:
    """``SUBSCRIBE`` on the live channels, straight from Redis; reconnects when the connection drops.

    Ids must increase within one epoch. redis-py's pub/sub reconnects and subscribes again on its own, so
    a drop of ids is judged against the epoch key: read when the drop is seen, it must differ from the
    epoch read when the run of ids began (Redis restarted empty); otherwise an id came back.
    """

    def __init__(self, redis_port: int, channels: list[str], epoch_key: str) -> None:
        self.redis_port = redis_port
        self.channels = channels
        self.epoch_key = epoch_key
        self.sessions: list[list[tuple[str, int]]] = []
        """Per epoch seen: (channel, id) of every message, in arrival order."""
        self.messages = 0
        self.violations: list[str] = []
        self._epoch: bytes | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listening."""
        self._task = asyncio.create_task(self._run(), name="redis-subscriber")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _run(self) -> None:
        while True:
            client = aioredis.Redis(host="127.0.0.1", port=self.redis_port, socket_connect_timeout=1)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(*self.channels)
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            await self._take(client, message)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis killed, paused past a timeout, ...: subscribe again
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _current_epoch(self, client: aioredis.Redis) -> bytes | None:
        with contextlib.suppress(Exception):
            value = await client.get(self.epoch_key)
            return value if isinstance(value, bytes) else None
        return None

    async def _take(self, client: aioredis.Redis, message: dict[str, Any]) -> None:
        self.messages += 1
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else str(message["channel"])
        try:
            envelope = json.loads(message["data"])
            event_id = int(envelope["id"])
            ok = (
                envelope.get("v") == 1
                and isinstance(envelope.get("data"), dict)
                and channel.endswith(f":{envelope.get('topic')}")
                and isinstance(envelope.get("ts_ms"), int)
            )
        except (ValueError, KeyError, TypeError):
            self.violations.append(f"redis subscriber: unreadable message on {channel}: {message['data']!r:.200}")
            return
        if not ok:
            self.violations.append(f"redis subscriber: envelope not as documented on {channel}: {envelope!r:.200}")
        session = self.sessions[-1] if self.sessions else None
        if session is None or event_id <= session[-1][1]:
            epoch = await self._current_epoch(client)
            if session is not None and (epoch is None or epoch == self._epoch):
                self.violations.append(
                    f"redis subscriber: id {event_id} on {channel} after id {session[-1][1]} in the same epoch"
                )
            self._epoch = epoch
            session = []
            self.sessions.append(session)
        session.append((channel, event_id))
