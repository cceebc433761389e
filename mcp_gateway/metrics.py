"""Prometheus metrics of the gateway, on a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from shared.metrics import LATENCY_BUCKETS_S

LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    """Every metric the gateway exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        self.tool_calls = Counter(
            "gateway_tool_calls_total", "MCP tool calls, by tool and outcome.", ["tool", "outcome"], registry=r
        )
        self.tool_duration = Histogram(
            "gateway_tool_duration_seconds", "MCP tool call duration.", ["tool"], buckets=LATENCY_BUCKETS_S, registry=r
        )
        self.fast_path_calls = Counter(
            "gateway_fast_path_calls_total",
            "Tool calls answered by the gateway's fast path instead of FastMCP, by tool.",
            ["tool"],
            registry=r,
        )
        self.active_streams = Gauge("gateway_active_streams", "Stream calls waiting for events now.", registry=r)
        self.events_delivered = Counter(
            "gateway_events_delivered_total", "Events delivered to callers, by topic.", ["topic"], registry=r
        )
        self.delivery_lag = Histogram(
            "gateway_delivery_lag_seconds",
            "From ingest (ts_ms) to pushing the event to the caller.",
            buckets=LAG_BUCKETS_S,
            registry=r,
        )
        self.events_dropped = Counter(
            "gateway_events_dropped_total", "Events dropped from a full per-call buffer.", ["reason"], registry=r
        )
        self.busy_rejections = Counter(
            "gateway_busy_rejections_total", "Calls refused because a limit was reached.", ["limit"], registry=r
        )
        self.refusals = Counter(
            "gateway_refusals_total",
            "Tool calls refused at once, by reason (network_not_served, busy, invalid_parameter, no_data_yet, "
            "bus_unreachable, ...).",
            ["reason"],
            registry=r,
        )
        self.quiet_waits = Counter(
            "gateway_quiet_waits_total",
            "Waiting calls that ended without an event, by the first reason the gateway knew of (no_events: "
            "nothing was wrong, nothing happened; no_ingestor, upstream_stale, bus_unreachable, ...).",
            ["reason"],
            registry=r,
        )
        self.listen_streams = Gauge("gateway_listen_streams", "Open subscriptions/listen streams.", registry=r)
        self.tracked_addresses = Gauge(
            "gateway_tracked_addresses", "Addresses this process holds leases on.", registry=r
        )
        self.tracked_txs = Gauge("gateway_tracked_txs", "Transactions this process holds leases on.", registry=r)
        self.redis_reconnects = Counter(
            "gateway_redis_reconnects_total", "Times the Redis subscription connection was re-established.", registry=r
        )
