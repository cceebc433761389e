"""What a person at the terminal sees: a start banner saying where to connect, and a status line a minute.

Both are ordinary log records on stderr (never stdout, which is the MCP protocol over stdio): readable
lines in text format, one object with named fields in JSON. The status line reads what the running
objects already know, through a :class:`StatusProbe` each command builds from its own parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.bus import Backend
from shared.errors import BusError, ConfigError
from shared.events import TOPIC_BLOCKS
from shared.settings import BusSettings, redact_url

log = logging.getLogger("mempool_ws")


@dataclass(frozen=True, slots=True)
class Figures:
    """Numbers of the status line, each None when unknown."""

    tip_height: int | None = None
    last_event_id: int | None = None
    """The network's last event id: its growth over a minute gives events per second."""
    open_streams: int | None = None


class StatusProbe(Protocol):
    """Where a command's status line comes from."""

    async def upstream(self) -> str:
        """The upstream state in a few words (``connected``, ``reconnecting``, ...); polled every few seconds."""
        ...

    async def figures(self) -> Figures:
        """Tip height, last event id and open streams; read once per status line."""
        ...


def bus_description(settings: BusSettings) -> str:
    """``embedded (in this process)`` or the Redis URL without its password, with the key prefix."""
    url = settings.redis_dsn()
    if not url:
        return "embedded (in this process)"
    return f"{redact_url(url)} (key prefix {settings.key_prefix})"


def announce(command: str, summary: str, fields: Sequence[tuple[str, str]]) -> None:
    """Log the start banner: ``summary`` then one ``label  value`` line per field (one line in JSON)."""
    width = max((len(label) for label, _ in fields), default=0)
    lines = [f"mempool-ws {command}: {summary}", *(f"{label.ljust(width)}  {value}" for label, value in fields)]
    one_line = f"mempool-ws {command}: {summary}; " + "; ".join(f"{label} {value}" for label, value in fields)
    named = {label.lower().replace(" ", "_"): value for label, value in fields}
    log.info(one_line, extra={"event": "started", "command": command, **named, "console_lines": lines})


async def tip_height(backend: Backend, network: str) -> int | None:
    """Height of the newest block event on the bus, or None when there is none (or the bus is down)."""
    try:
        event = await backend.latest(network, TOPIC_BLOCKS)
    except BusError:
        return None
    height = event.data.get("height") if event is not None else None
    return height if isinstance(height, int) else None


async def last_event_id(backend: Backend, network: str) -> int | None:
    """The network's last event id, or None when the bus is down."""
    try:
        return (await backend.position(network)).last_id
    except BusError:
        return None


class StateClock:
    """Remembers since when the current state has held."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.since = time.time()

    def observe(self, state: str) -> None:
        """Record ``state`` now; the clock restarts when it differs from the last one (the first state
        counts from the clock's creation)."""
        if self.state is None:
            self.state = state
        elif state != self.state:
            self.state, self.since = state, time.time()

    def describe(self) -> str:
        """``connected``, or ``<state> since HH:MM:SS``."""
        if self.state in (None, "connected"):
            return self.state or "unknown"
        return f"{self.state} since {time.strftime('%H:%M:%S', time.localtime(self.since))}"


def status_line(figures: Figures, events_per_s: float | None, upstream: str) -> tuple[str, dict[str, object]]:
    """The status message and its fields."""
    parts = [f"tip {figures.tip_height}" if figures.tip_height is not None else "no block yet"]
    parts.append(f"{events_per_s:.1f} events/s" if events_per_s is not None else "events/s unknown")
    if figures.open_streams is not None:
        parts.append(f"{figures.open_streams} open stream{'' if figures.open_streams == 1 else 's'}")
    parts.append(f"upstream {upstream}")
    fields: dict[str, object] = {
        "event": "status",
        "tip_height": figures.tip_height,
        "events_per_s": round(events_per_s, 2) if events_per_s is not None else None,
        "upstream": upstream,
    }
    if figures.open_streams is not None:
        fields["open_streams"] = figures.open_streams
    return "status: " + ", ".join(parts), fields


async def report_status(probe: StatusProbe, interval_s: float, poll_s: float = 1.0) -> None:
    """Poll the upstream state every ``poll_s`` and log a status line every ``interval_s`` (0: never)."""
    clock = StateClock()
    previous: tuple[int | None, float] = (None, time.monotonic())
    poll_s = min(poll_s, interval_s) if interval_s > 0 else poll_s
    with contextlib.suppress(Exception):
        previous = (await probe.figures()).last_event_id, time.monotonic()
    while True:
        await asyncio.sleep(poll_s)
        try:
            clock.observe(await probe.upstream())
            if interval_s <= 0 or time.monotonic() - previous[1] < interval_s:
                continue
            figures, now = await probe.figures(), time.monotonic()
        except Exception as exc:  # a status line is never worth a crash (e.g. the bus closing at shutdown)
            log.debug("status line skipped: %s: %s", type(exc).__name__, exc)
            continue
        rate = None
        if figures.last_event_id is not None and previous[0] is not None and figures.last_event_id >= previous[0]:
            rate = (figures.last_event_id - previous[0]) / (now - previous[1])
        message, fields = status_line(figures, rate, clock.describe())
        log.info(message, extra=fields)
        previous = figures.last_event_id, now


@contextlib.asynccontextmanager
async def status_reporting(probe: StatusProbe, interval_s: float, poll_s: float = 1.0) -> AsyncIterator[None]:
    """Run :func:`report_status` in the background for the duration of the block."""
    task = asyncio.create_task(report_status(probe, interval_s, poll_s), name="status-line")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def listen_error(exc: OSError, host: str, port: int, flag: str, env: str) -> ConfigError:
    """A one-line :class:`ConfigError` for a socket that cannot listen on ``host:port``."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"port {port} is already in use on {host} (another mempool-ws still running?); "
            f"pick another with {flag} or {env}"
        )
    if exc.errno == errno.EACCES:
        return ConfigError(f"not allowed to listen on {where} (ports below 1024 need privileges); use {flag} or {env}")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(f"cannot listen on {where}: {host} is not an address of this machine; check --host")
    return ConfigError(f"cannot listen on {where}: {exc.strerror or exc}")
