"""Prometheus plumbing shared by the ingestor and the gateway: one registry per service instance."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Labelled(Protocol):
    def labels(self, *values: str) -> object: ...


MetricT = TypeVar("MetricT", bound=_Labelled)


class ChildrenByLabel(Generic[MetricT]):
    """The children of a one-label metric, looked up once per label value.

    ``labels()`` takes a lock and builds a key tuple on every call; on a per-frame path that costs more
    than the increment itself. Only for labels whose values are already bounded.
    """

    def __init__(self, metric: MetricT) -> None:
        self._metric = metric
        self._children: dict[str, MetricT] = {}

    def __getitem__(self, value: str) -> MetricT:
        if value not in self._children:
            self._children[value] = self._metric.labels(value)  # type: ignore[assignment]
        return self._children[value]


def topic_label(topic: str) -> str:
    """A bounded metric label for a topic: per-address and per-transaction topics collapse into
    ``address`` and ``tx``."""
    if topic.startswith(("address:", "tx:")):
        return topic.split(":", 1)[0]
    return topic


def metrics_endpoint(*registries: CollectorRegistry) -> object:
    """A Starlette endpoint serving the given registries in the Prometheus text format."""

    async def endpoint(request: Request) -> Response:
        body = b"".join(generate_latest(registry) for registry in registries)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return endpoint
