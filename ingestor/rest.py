"""The few upstream REST calls a reconnecting ingestor needs: recent blocks, the 2-hour chart, and the
status of a tracked transaction."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ingestor.core import RestTxStatus
from shared.errors import UpstreamUnavailable

log = logging.getLogger(__name__)

BLOCKS_PER_PAGE = 15


class UpstreamRest:
    """A small client of the upstream REST API (base URL ending in ``/api``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout_s, headers={"User-Agent": "mempool-ws-ingestor/0.1"})

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _get(self, path: str) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = await self._client.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamUnavailable(f"GET {path} failed: {type(exc).__name__}: {exc}") from exc

    async def blocks_between(self, first: int, last: int, *, max_blocks: int) -> list[dict[str, Any]]:
        """Raw BlockExtended objects for heights ``first..last`` (at most ``max_blocks``, newest kept), oldest first."""
        first = max(first, last - max_blocks + 1)
        found: dict[int, dict[str, Any]] = {}
        start = last
        while start >= first:
            page = await self._get(f"/v1/blocks/{start}")
            if not isinstance(page, list) or not page:
                break
            for block in page:
                if isinstance(block, dict) and isinstance(block.get("height"), int):
                    found.setdefault(block["height"], block)
            start -= BLOCKS_PER_PAGE
        return [found[height] for height in sorted(found) if first <= height <= last]

    async def fee_chart(self) -> list[dict[str, Any]]:
        """The last two hours of live-2h-chart points, oldest first."""
        points = await self._get("/v1/statistics/2h")
        if not isinstance(points, list):
            raise UpstreamUnavailable("GET /v1/statistics/2h did not return a list")
        return [point for point in reversed(points) if isinstance(point, dict)]

    async def tx_status(self, txid: str) -> RestTxStatus:
        """``/tx/{txid}/status``: confirmed with its block, or not (in the mempool, replaced, evicted and
        never seen alike)."""
        status = await self._get(f"/tx/{txid}/status")
        if not isinstance(status, dict) or not isinstance(status.get("confirmed"), bool):
            raise UpstreamUnavailable(f"GET /tx/{txid}/status did not return a status object")
        height, block_hash, block_time = status.get("block_height"), status.get("block_hash"), status.get("block_time")
        return RestTxStatus(
            confirmed=status["confirmed"],
            block_height=height if isinstance(height, int) and not isinstance(height, bool) else None,
            block_hash=block_hash if isinstance(block_hash, str) else None,
            block_time_unix_s=block_time if isinstance(block_time, int) and not isinstance(block_time, bool) else None,
        )
