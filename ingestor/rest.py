"""The few upstream REST calls a reconnecting ingestor needs: recent blocks and the 2-hour chart."""

from __future__ import annotations

import logging
from typing import Any

import httpx

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
