"""One upstream WebSocket kept open forever.

Connects, lets its owner (re)subscribe, reads frames, sends a JSON ping after silence and replaces a
socket that stays silent past a deadline (the upstream never pings, and its proxy drops idle sockets).
Reconnects with exponential backoff and jitter, reset once a connection has been healthy for a while.
Every send goes through a sliding-window limiter so the upstream's inbound rate limit is never hit.
While the read gate is closed (the publish queue is full) the socket stops reading, so TCP pushes back
on the upstream; that pause does not count as silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential, wait_random
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import CloseCode

from ingestor.upstream.gate import ReadGate
from ingestor.upstream.ratelimit import SlidingWindowLimiter
from shared.errors import UpstreamRejected, UpstreamUnavailable
from shared.settings import IngestorSettings

log = logging.getLogger(__name__)

USER_AGENT = "mempool-ws-ingestor/0.1"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Timing and size limits of one upstream socket."""

    connect_timeout_s: float = 10.0
    ping_after_silence_s: float = 25.0
    dead_after_silence_s: float = 35.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    healthy_after_s: float = 30.0
    max_frame_bytes: int = 8 * 1024 * 1024
    max_messages_per_window: int = 80
    rate_window_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: IngestorSettings) -> ConnectionLimits:
        """The limits configured for the ingestor."""
        return cls(
            connect_timeout_s=settings.connect_timeout_s,
            ping_after_silence_s=settings.ping_after_silence_s,
            dead_after_silence_s=settings.dead_after_silence_s,
            backoff_initial_s=settings.backoff_initial_s,
            backoff_max_s=settings.backoff_max_s,
            healthy_after_s=settings.healthy_after_s,
            max_frame_bytes=settings.max_frame_bytes,
            max_messages_per_window=settings.max_messages_per_window,
            rate_window_s=settings.rate_window_s,
        )


class ConnectionHandler(Protocol):
    """What the owner of a connection does at each step of its life."""

    async def on_connected(self, connection: UpstreamConnection) -> None:
        """The socket is open: send the subscriptions it should carry."""

    async def on_frame(self, connection: UpstreamConnection, raw: str | bytes, received_ms: int) -> None:
        """A frame arrived."""

    async def on_disconnected(self, connection: UpstreamConnection, reason: str) -> None:
        """The socket closed (it will be reopened after a backoff)."""


def classify_connect_error(exc: BaseException) -> Exception:
    """Map a connect failure to a retryable :class:`UpstreamUnavailable` or a fatal :class:`UpstreamRejected`."""
    if isinstance(exc, InvalidURI):
        return UpstreamRejected(f"invalid upstream URL: {exc}")
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if 400 <= status < 500 and status not in (408, 429):
            return UpstreamRejected(f"upstream refused the WebSocket upgrade with HTTP {status}")
        return UpstreamUnavailable(f"upstream answered HTTP {status}")
    return UpstreamUnavailable(f"cannot connect: {type(exc).__name__}: {exc}")


class UpstreamConnection:
    """A named upstream socket that reconnects forever (until cancelled or rejected)."""

    def __init__(
        self,
        name: str,
        url: str,
        handler: ConnectionHandler,
        limits: ConnectionLimits,
        *,
        on_reconnect: Callable[[], None] | None = None,
        on_sent: Callable[[], None] | None = None,
        gate: ReadGate | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.limits = limits
        self._handler = handler
        self._on_reconnect = on_reconnect
        self._on_sent = on_sent
        self._gate = gate or ReadGate()
        self._limiter = SlidingWindowLimiter(limits.max_messages_per_window, limits.rate_window_s)
        self._sending = asyncio.Lock()
        self._ws: ClientConnection | None = None
        self._last_frame = time.monotonic()
        self._dead_reason: str | None = None
        self.connected_since: float | None = None
        self.sessions = 0

    @property
    def connected(self) -> bool:
        """Whether the socket is open now."""
        return self._ws is not None

    @property
    def silent_for_s(self) -> float:
        """Seconds since the last frame arrived."""
        return time.monotonic() - self._last_frame

    async def send(self, message: dict[str, Any] | Callable[[], dict[str, Any]]) -> bool:
        """Send one JSON message within the rate limit; False when the socket is not open.

        ``message`` may be a function, called once the limit allows the send, so what is sent is the
        newest state rather than the state when the send was requested. Sends go one at a time, each
        counted when it has been written: a send held up after the limiter allowed it must not let the
        upstream, which counts arrivals, see more in one window than the limit.
        """
        ws = self._ws
        if ws is None:
            return False
        async with self._sending:
            await self._limiter.wait()
            if ws is not self._ws:
                return False
            payload = message() if callable(message) else message
            try:
                await ws.send(json.dumps(payload, separators=(",", ":")))
            except ConnectionClosed:
                return False
            finally:
                self._limiter.record()
        if self._on_sent is not None:
            self._on_sent()
        return True

    async def run(self) -> None:
        """Keep the socket open until cancelled; raise :class:`UpstreamRejected` on a fatal refusal."""
        while True:
            retrying = AsyncRetrying(
                wait=wait_exponential(multiplier=self.limits.backoff_initial_s, max=self.limits.backoff_max_s)
                + wait_random(0, self.limits.backoff_initial_s),
                retry=retry_if_exception_type(UpstreamUnavailable),
                before_sleep=self._log_retry,
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    await self._session()
            if self._on_reconnect is not None:
                self._on_reconnect()
            await asyncio.sleep(random.uniform(0, self.limits.backoff_initial_s))

    def _log_retry(self, state: RetryCallState) -> None:
        delay = state.upcoming_sleep
        error = state.outcome.exception() if state.outcome else None
        log.info(
            "upstream %s: reconnecting in %.1f s (%s)",
            self.name,
            delay,
            error,
            extra={"socket": self.name, "attempt": state.attempt_number, "delay_s": round(delay, 2)},
        )
        if self._on_reconnect is not None:
            self._on_reconnect()

    async def _session(self) -> None:
        started = time.monotonic()
        try:
            ws = await connect(
                self.url,
                open_timeout=self.limits.connect_timeout_s,
                max_size=self.limits.max_frame_bytes,
                ping_interval=None,
                close_timeout=2,
                compression=None,
                user_agent_header=USER_AGENT,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise classify_connect_error(exc) from exc
        reason = await self._serve(ws)
        if time.monotonic() - started < self.limits.healthy_after_s:
            raise UpstreamUnavailable(reason)
        log.info("upstream %s: closed after a healthy session (%s)", self.name, reason)

    async def _serve(self, ws: ClientConnection) -> str:
        self._ws, self._dead_reason = ws, None
        self._last_frame = time.monotonic()
        self.connected_since = time.time()
        self.sessions += 1
        self._limiter.reset()
        log.info("upstream %s: connected to %s", self.name, self.url, extra={"socket": self.name})
        watchdog = asyncio.create_task(self._watch_silence(ws), name=f"watchdog-{self.name}")
        reason = "closed"
        try:
            await self._handler.on_connected(self)
            async for raw in ws:
                self._last_frame = time.monotonic()
                if not self._gate.is_open:
                    await self._gate.wait()
                    self._last_frame = time.monotonic()
                await self._handler.on_frame(self, raw, int(time.time() * 1000))
            reason = f"closed by upstream (code {ws.close_code})"
        except ConnectionClosed as exc:
            reason = self._dead_reason or self._lost_reason(exc)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            self._ws, self.connected_since = None, None
            await asyncio.shield(self._close(ws))
            await self._handler.on_disconnected(self, reason)
        log.warning("upstream %s: %s", self.name, reason, extra={"socket": self.name})
        return reason

    def _lost_reason(self, exc: ConnectionClosed) -> str:
        if exc.rcvd is None and exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
            return f"a frame exceeded max_frame_bytes ({self.limits.max_frame_bytes} bytes): closed with code 1009"
        return f"connection lost (code {exc.rcvd.code if exc.rcvd else 1006})"

    async def _close(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await ws.close()

    async def _watch_silence(self, ws: ClientConnection) -> None:
        tick = min(1.0, self.limits.ping_after_silence_s / 4)
        pinged_at: float | None = None
        while True:
            await asyncio.sleep(tick)
            if not self._gate.is_open:  # we stopped reading ourselves: that is not silence
                self._last_frame = time.monotonic()
                continue
            silent = self.silent_for_s
            if silent >= self.limits.dead_after_silence_s:
                self._dead_reason = f"silent for {silent:.0f} s: treated as dead"
                ws.transport.abort()
                return
            if silent >= self.limits.ping_after_silence_s and (pinged_at is None or pinged_at < self._last_frame):
                pinged_at = time.monotonic()
                await self.send({"action": "ping"})
