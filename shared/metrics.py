"""Prometheus plumbing shared by the ingestor and the gateway: one registry per service instance."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def topic_label(topic: str) -> str:
    """A bounded metric label for a topic: per-address topics collapse into ``address``."""
    return "address" if topic.startswith("address:") else topic


def metrics_endpoint(*registries: CollectorRegistry) -> object:
    """A Starlette endpoint serving the given registries in the Prometheus text format."""

    async def endpoint(request: Request) -> Response:
        body = b"".join(generate_latest(registry) for registry in registries)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return endpoint
