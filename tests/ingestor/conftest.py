from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ingestor.service import IngestorService
from shared.bus.redis import RedisBackend
from shared.settings import IngestorSettings, SimSettings
from simulator import Simulator
from tests.support.timing import FAST_INGESTOR_SETTINGS


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator with a block about every 0.5 s and mempool updates every 50 ms."""
    async with Simulator(SimSettings(port=0, speed=1200, tick_s=0.05, seed=7)) as sim:
        yield sim


@pytest.fixture
def ingestor_settings(
    simulator: Simulator, redis_url: str, key_prefix: str, redis_cleanup: None
) -> Callable[..., IngestorSettings]:
    """Settings of an ingestor pointed at the simulator and this test's Redis prefix."""

    def make(**overrides: Any) -> IngestorSettings:
        values: dict[str, Any] = {
            **FAST_INGESTOR_SETTINGS,
            "upstream_url": simulator.ws_url,
            "upstream_rest_url": f"{simulator.http_url}/api",
            "redis_url": redis_url,
            "key_prefix": key_prefix,
            **overrides,
        }
        return IngestorSettings(**values)

    return make


@pytest.fixture
async def probe(redis_url: str, key_prefix: str) -> AsyncIterator[RedisBackend]:
    """A Redis backend for reading what the ingestor published."""
    backend = RedisBackend(redis_url, prefix=key_prefix)
    await backend.connect()
    yield backend
    await backend.close()


@pytest.fixture
async def running_ingestor(
    ingestor_settings: Callable[..., IngestorSettings],
) -> AsyncIterator[Callable[..., Any]]:
    """Start ingestor services in the background; all are stopped at the end."""
    import asyncio

    started: list[tuple[IngestorService, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> IngestorService:
        service = IngestorService(ingestor_settings(**overrides))
        task = asyncio.create_task(service.run())
        started.append((service, task))
        return service

    yield start
    for service, _ in started:
        service.stop()
    for _, task in started:
        try:
            await asyncio.wait_for(task, 15)
        except Exception:
            task.cancel()
