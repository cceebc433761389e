from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ingestor.service import IngestorService
from shared.bus.redis import RedisBackend
from shared.settings import IngestorSettings, SimSettings
from simulator import Simulator
from tests.faults.helpers import Deployment
from tests.support.redis_server import RedisServer
from tests.support.timing import FAST_INGESTOR_SETTINGS

StartIngestor = Callable[..., Awaitable[IngestorService]]
FAST_INGESTOR: dict[str, Any] = {**FAST_INGESTOR_SETTINGS, "healthy_after_s": 0.3}


@pytest.fixture
async def deployment(redis_url: str, key_prefix: str, redis_cleanup: None) -> AsyncIterator[Deployment]:
    """Processes on the session Redis under this test's prefix; all stopped afterwards."""
    running = Deployment(redis_url, key_prefix)
    try:
        yield running
    finally:
        await running.stop_all()


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    """A redis-server of this test alone, on a fixed port it can kill and start again."""
    server = RedisServer()
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.cleanup)


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """An in-process simulator: a block about every 0.5 s, mempool updates every 50 ms."""
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.05, seed=5)) as sim:
        yield sim


@pytest.fixture
async def probe(redis_url: str, key_prefix: str, redis_cleanup: None) -> AsyncIterator[RedisBackend]:
    """A Redis backend for reading what was published under this test's prefix."""
    backend = RedisBackend(redis_url, prefix=key_prefix)
    await backend.connect()
    yield backend
    await backend.close()


@pytest.fixture
async def ingestor(redis_url: str, key_prefix: str, redis_cleanup: None) -> AsyncIterator[StartIngestor]:
    """Start in-process ingestor services with fast timings; all are stopped at the end."""
    started: list[tuple[IngestorService, asyncio.Task[None]]] = []

    async def start(upstream_url: str, rest_url: str, **overrides: Any) -> IngestorService:
        values: dict[str, Any] = {
            **FAST_INGESTOR,
            "upstream_url": upstream_url,
            "upstream_rest_url": rest_url,
            "redis_url": redis_url,
            "key_prefix": key_prefix,
            **overrides,
        }
        service = IngestorService(IngestorSettings(**values))
        started.append((service, asyncio.create_task(service.run())))
        return service

    yield start
    for service, _ in started:
        service.stop()
    for _, task in started:
        try:
            await asyncio.wait_for(task, 15)
        except Exception:
            task.cancel()
