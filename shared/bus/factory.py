"""Pick the backend from the settings: a Redis URL, or none for the embedded bus."""

from __future__ import annotations

from shared.bus.base import Backend
from shared.bus.memory import MemoryBackend
from shared.bus.retention import Retention
from shared.errors import ConfigError
from shared.settings import BusSettings


def create_backend(settings: BusSettings, retention: Retention | None = None) -> Backend:
    """A Redis backend for ``redis://`` / ``rediss://`` URLs, the embedded backend when no URL is set."""
    url = settings.redis_dsn()
    if not url:
        return MemoryBackend(prefix=settings.key_prefix, retention=retention)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("redis_url must start with redis://, rediss:// or unix:// (MEMPOOL_WS_REDIS_URL)")
    from shared.bus.redis import RedisBackend

    return RedisBackend(
        url,
        prefix=settings.key_prefix,
        retention=retention,
        connect_timeout_s=settings.redis_connect_timeout_s,
        retry_max_s=settings.redis_retry_max_s,
        policy_check_interval_s=settings.redis_policy_check_interval_s,
    )
