"""``subscriptions/listen`` (MCP 2026-07-28): resource-updated notifications fed by the bus.

FastMCP 4 does not serve this method, so it is registered on the underlying SDK server. Each listen
stream subscribes, through the process hub, to the channels of the resources it asked for, and turns
every event published there (by the ingestor, whatever pod the listener is on) into a
``ResourceUpdated(uri)`` notification. Each stream has its own small in-process bus, so a listener
hears each update once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastmcp import FastMCP
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, SubscriptionsListenRequestParams, SubscriptionsListenResult

from mcp_gateway import sdk
from mcp_gateway.gateway import Gateway
from mcp_gateway.resources import parse_uri
from shared.bus import Subscriber

MAX_LISTEN_STREAMS = 1024
MAX_URIS_PER_STREAM = 64


class BusListenHandler:
    """Serves ``subscriptions/listen`` from bus events."""

    def __init__(self, gateway: Gateway, *, max_streams: int = MAX_LISTEN_STREAMS) -> None:
        self._gateway = gateway
        self._max_streams = max_streams
        self.open_streams = 0

    async def __call__(self, ctx: Any, params: SubscriptionsListenRequestParams) -> SubscriptionsListenResult:
        if self.open_streams >= self._max_streams:
            raise MCPError(INTERNAL_ERROR, "busy: too many listen streams on this gateway; retry later")
        uris = list(params.notifications.resource_subscriptions or [])[:MAX_URIS_PER_STREAM]
        local = InMemorySubscriptionBus()
        self.open_streams += 1
        self._gateway.metrics.listen_streams.inc()
        try:
            async with contextlib.AsyncExitStack() as stack:
                forwarders = []
                for uri in uris:
                    target = parse_uri(uri)
                    if target is None:
                        continue
                    channel = self._gateway.names(target.network).channel(target.topic)
                    subscriber = await stack.enter_async_context(self._gateway.hub.subscribe(channel))
                    forwarders.append(asyncio.create_task(_forward(subscriber, uri, local)))
                try:
                    return await ListenHandler(local)(ctx, params)
                finally:
                    for task in forwarders:
                        task.cancel()
                    await asyncio.gather(*forwarders, return_exceptions=True)
        finally:
            self.open_streams -= 1
            self._gateway.metrics.listen_streams.dec()


async def _forward(subscriber: Subscriber, uri: str, local: InMemorySubscriptionBus) -> None:
    while True:
        if await subscriber.get(None) is None:
            return
        await local.publish(ResourceUpdated(uri=uri))


def register(mcp: FastMCP, gateway: Gateway) -> BusListenHandler:
    """Serve ``subscriptions/listen`` on ``mcp`` (through the SDK server FastMCP wraps)."""
    handler = BusListenHandler(gateway)
    sdk.add_request_handler(mcp, "subscriptions/listen", SubscriptionsListenRequestParams, handler)
    return handler
