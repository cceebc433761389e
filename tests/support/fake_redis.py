"""The Redis backend over fakeredis (with Lua), so the bus contract runs without any server."""

from __future__ import annotations

from collections.abc import Callable

import fakeredis

from shared.bus._clients import Clients, ClientSettings
from shared.bus._links import ClassicLink
from shared.bus.location import RedisLocation

FAKE_URL = "redis://fakeredis/0"
"""The URL a fakeredis backend is made with (never connected to)."""


def fake_clients(server: fakeredis.FakeServer) -> Callable[[RedisLocation, ClientSettings], Clients]:
    """A ``clients`` builder for :class:`~shared.bus.redis.RedisBackend` whose clients talk to ``server``."""

    def build(location: RedisLocation, settings: ClientSettings) -> Clients:
        command = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
        pubsub = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
        return Clients(command=command, new_link=lambda: ClassicLink(pubsub), closers=[command.aclose, pubsub.aclose])

    return build
