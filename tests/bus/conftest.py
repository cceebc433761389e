from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from shared.bus import Backend, MemoryBackend, Retention
from shared.bus.redis import RedisBackend

BackendFactory = Callable[..., Backend]


@pytest.fixture(params=["memory", "redis"])
async def make_backend(
    request: pytest.FixtureRequest, redis_url: str, key_prefix: str, redis_cleanup: None
) -> AsyncIterator[BackendFactory]:
    """A factory of connected backends of the parametrized kind, sharing this test's prefix."""
    made: list[Backend] = []
    shared_memory: dict[str, MemoryBackend] = {}

    def factory(retention: Retention | None = None) -> Backend:
        backend: Backend
        if request.param == "memory":
            backend = shared_memory.setdefault("b", MemoryBackend(prefix=key_prefix, retention=retention))
        else:
            backend = RedisBackend(redis_url, prefix=key_prefix, retention=retention)
        made.append(backend)
        return backend

    yield factory
    for backend in made:
        await backend.close()


@pytest.fixture
async def backend(make_backend: BackendFactory) -> Backend:
    """One connected backend with small history windows."""
    created = make_backend(Retention(history_size=5, address_history_size=3, address_ttl_s=60))
    await created.connect()
    return created
