"""Simulators on loopback and a small WebSocket client that waits for frames instead of sleeping."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from shared.settings import SimSettings
from simulator import Simulator

BLOCK_FRAME_KEYS = ["block", "mempoolInfo", "vBytesPerSecond", "fees", "da", "mempool-blocks"]
"""Keys of a new-block frame for a client wanting blocks, stats and mempool-blocks, in order."""
FAST = {"speed": 600.0, "tick_s": 0.05}
"""A block about every second and a mempool update every 50 ms."""
QUIET = {"speed": 0.001, "tick_s": 3600.0}
"""Nothing happens on its own for hours: every frame a test sees is a reply."""

PAID = "bc1q563uveczer8sx7kd4c7a5h9c4me9dv36n9rgcg"
OTHER = "bc1p5hcw5a5z229z7zaz6xnlcasd5n9c4h48ls8nauv2swseerjgtcssqpnllh"


def settings(**overrides: Any) -> SimSettings:
    """Loopback settings on a free port; every field explicit so the environment cannot leak in."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "network": "mainnet",
        "seed": 11,
        "address_limit": 10,
        **FAST,
        "anchor_unix_s": None,
    }
    values.update(overrides)
    return SimSettings(**values)


class Client:
    """A real ``websockets`` client with helpers that wait for frames with a timeout."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[str] = []

    async def send(self, message: dict[str, Any] | str) -> None:
        """Send a dict as JSON or a string as is."""
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def recv_text(self, timeout: float = 5.0) -> str:
        """The next frame, raw."""
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(frame, str)
        self.seen.append(frame)
        return frame

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame, parsed."""
        parsed = json.loads(await self.recv_text(timeout))
        assert isinstance(parsed, dict)
        return parsed

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first frame (from now on) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - time.monotonic()))
            if predicate(frame):
                return frame

    async def frames_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Every frame up to and including the first that satisfies ``predicate``."""
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not frames or not predicate(frames[-1]):
            frames.append(await self.recv(max(0.01, deadline - time.monotonic())))
        return frames

    async def ping(self) -> dict[str, Any]:
        """Send a JSON ping and return the next frame (a pong on a quiet simulator)."""
        await self.send({"action": "ping"})
        return await self.recv()


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds (for effects that land just after a frame arrives)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


SimFactory = Callable[..., Awaitable[Simulator]]
ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Start simulators with :func:`settings` overrides; all are stopped at teardown."""
    started: list[Simulator] = []

    async def factory(**overrides: Any) -> Simulator:
        simulator = Simulator(settings(**overrides))
        await simulator.start()
        started.append(simulator)
        return simulator

    yield factory
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Open clients to a URL; all are closed at teardown."""
    async with AsyncExitStack() as stack:

        async def factory(url: str) -> Client:
            opener: AbstractAsyncContextManager[ClientConnection] = connect(url, ping_interval=None, max_size=None)
            return Client(await stack.enter_async_context(opener))

        yield factory


@pytest.fixture
async def quiet(make_sim: SimFactory) -> Simulator:
    """A simulator where nothing happens unless a client asks."""
    return await make_sim(**QUIET)


@pytest.fixture
async def fast(make_sim: SimFactory) -> Simulator:
    """A simulator with a block about every second and mempool ticks every 50 ms."""
    return await make_sim(**FAST)
