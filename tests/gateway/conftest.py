from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastmcp import Client, FastMCP

from mcp_gateway.gateway import Gateway
from mcp_gateway.server import build_server
from shared.bus import MemoryBackend, Retention
from shared.events import Event, Publication
from shared.models import IngestorStatus
from shared.settings import GatewaySettings


class FakeFeed:
    """Plays the ingestor's part on an embedded bus: a status record and hand-made events."""

    def __init__(self, backend: MemoryBackend, network: str = "mainnet") -> None:
        self.backend = backend
        self.network = network

    async def status(self, *, connected: bool = True, age_s: float = 0.0, capacity: int = 500,
                     rejected: list[str] | None = None, tx_capacity: int = 1000) -> None:  # fmt: skip
        now = int(time.time() * 1000)
        await self.backend.write_status(
            IngestorStatus(
                network=self.network,
                holder="fake-ingestor",
                upstream_connected=connected,
                sockets=1,
                tracked_addresses=0,
                address_capacity=capacity,
                rejected_addresses=rejected or [],
                tx_capacity=tx_capacity,
                last_frame_ms=now - int(age_s * 1000),
                updated_ms=now,
            ),
            ttl_s=60,
        )

    async def publish(self, topic: str, data: dict[str, Any]) -> Event:
        [event] = await self.backend.publish([Publication(self.network, topic, data, int(time.time() * 1000))])
        return event

    async def stats(self, fastest: float, vsize_vb: int = 50_000_000) -> Event:
        return await self.publish(
            "stats",
            {
                "mempool": {"tx_count": 40_000, "vsize_vb": vsize_vb},
                "vbytes_per_second": 1500.0,
                "fees": {
                    "fastest": fastest,
                    "half_hour": fastest / 2,
                    "hour": 1.0,
                    "economy": 0.5,
                    "minimum": 0.1,
                },
                "updated": ["mempool", "fees"],
            },
        )

    async def block(self, height: int) -> Event:
        return await self.publish(
            "blocks",
            {
                "height": height,
                "hash": f"{height:064x}",
                "timestamp_unix_s": 1_764_000_000 + height,
                "tx_count": 3000,
                "size_bytes": 1_500_000,
                "weight_wu": 3_990_000,
                "vsize_vb": 997_500.0,
                "difficulty": 1.5e14,
                "median_fee_rate": 2.0,
                "source": "live",
            },
        )


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(retention=Retention(history_size=20, address_history_size=10))


@pytest.fixture
def feed(backend: MemoryBackend) -> FakeFeed:
    return FakeFeed(backend)


@pytest.fixture
def make_gateway(backend: MemoryBackend) -> Callable[..., tuple[Gateway, FastMCP]]:
    def make(**overrides: Any) -> tuple[Gateway, FastMCP]:
        gateway = Gateway(GatewaySettings(**overrides), backend)
        return gateway, build_server(gateway)

    return make


@pytest.fixture
async def gateway_client(
    make_gateway: Callable[..., tuple[Gateway, FastMCP]], feed: FakeFeed
) -> AsyncIterator[tuple[Gateway, Client[Any]]]:
    """A gateway on the embedded bus with a fresh fake ingestor status, and an in-memory client."""
    await feed.status()
    gateway, mcp = make_gateway(default_timeout_s=5.0)
    async with Client(mcp) as client:
        yield gateway, client
