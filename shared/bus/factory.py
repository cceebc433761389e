"""Pick the backend from the settings: a Redis URL, or none for the embedded bus."""

from __future__ import annotations

from shared.bus.base import Backend
from shared.bus.memory import MemoryBackend
from shared.bus.retention import Retention
from shared.settings import BusSettings


def create_backend(settings: BusSettings, retention: Retention | None = None) -> Backend:
    """A Redis backend for any URL of :mod:`shared.bus.location`, the embedded backend when no URL is set.

    Raise :class:`~shared.errors.ConfigError` for a URL that is not one of those forms.
    """
    url = settings.redis_dsn()
    if not url:
        return MemoryBackend(prefix=settings.key_prefix, retention=retention)
    from shared.bus.location import parse_redis_url
    from shared.bus.redis import RedisBackend

    return RedisBackend(
        parse_redis_url(url),
        prefix=settings.key_prefix,
        retention=retention,
        connect_timeout_s=settings.redis_connect_timeout_s,
        retry_max_s=settings.redis_retry_max_s,
        policy_check_interval_s=settings.redis_policy_check_interval_s,
    )
