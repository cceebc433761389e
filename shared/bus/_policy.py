"""Watching Redis's ``maxmemory-policy``: an evicting Redis silently drops this service's keys."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

log = logging.getLogger(__name__)


def evicts(policy: str | None) -> bool:
    """Whether ``policy`` lets Redis evict keys (every ``allkeys-*`` and ``volatile-*`` policy)."""
    return bool(policy) and policy != "noeviction"


def eviction_warning(policy: str, where: str) -> str:
    """What an operator reads about an evicting Redis."""
    return (
        f"Redis at {where} evicts keys under memory pressure (maxmemory-policy {policy}): keys of this service "
        "may vanish (event ids restart in a new epoch, address leases drop, leadership flaps); set "
        "`maxmemory-policy noeviction`"
    )


async def read_policy(client: aioredis.Redis) -> str | None:
    """Redis's ``maxmemory-policy``: CONFIG GET, else INFO memory (managed Redis often disables CONFIG)."""
    try:
        reply = await client.config_get("maxmemory-policy")
        if reply.get("maxmemory-policy"):
            return str(reply["maxmemory-policy"])
    except ResponseError:
        pass
    info = await client.info("memory")
    policy = info.get("maxmemory_policy")
    return str(policy) if policy else None


class EvictionWatch:
    """Reads the policy at connect and every ``interval_s``; warns once per change to an evicting policy."""

    def __init__(self, client: aioredis.Redis, where: str, interval_s: float) -> None:
        self._client = client
        self._where = where
        self._interval_s = interval_s
        self.policy: str | None = None

    def warnings(self) -> list[str]:
        """The warning about the current policy, if it evicts."""
        return [eviction_warning(self.policy, self._where)] if self.policy and evicts(self.policy) else []

    async def check(self) -> None:
        """Read the policy now; log a change to or from an evicting one (an unreadable policy keeps the last)."""
        try:
            policy = await read_policy(self._client)
        except (RedisError, OSError) as exc:
            log.debug("cannot read the maxmemory-policy of Redis at %s: %s", self._where, exc)
            return
        if policy == self.policy:
            return
        previous, self.policy = self.policy, policy
        if policy and evicts(policy):
            log.warning("%s", eviction_warning(policy, self._where))
        elif evicts(previous):
            log.info("Redis at %s no longer evicts keys (maxmemory-policy %s)", self._where, policy)

    async def run(self) -> None:
        """Check every interval, forever."""
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check()
