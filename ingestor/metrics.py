"""Prometheus metrics of the ingestor, registered on a registry of their own (one per service)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from shared.metrics import LATENCY_BUCKETS_S, ChildrenByLabel, topic_label

KNOWN_FRAME_KEYS = frozenset(
    {
        "block", "blocks", "mempool-blocks", "mempoolInfo", "vBytesPerSecond", "fees", "da", "transactions",
        "live-2h-chart", "conversions", "loadingIndicators", "backendInfo", "backend", "rbfSummary", "pong",
        "address-transactions", "address-removed-transactions", "block-transactions",
        "multi-address-transactions", "multi-scriptpubkey-transactions", "track-addresses-error",
        "track-scriptpubkeys-error", "txPosition", "txReplaced", "txConfirmed", "tomahawk", "tracked-txs",
        "rbfTransaction", "track-txs-error", "utxoSpent", "rbfInfo",
    }
)  # fmt: skip


class IngestorMetrics:
    """Every metric the ingestor exports."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        if process_metrics:
            ProcessCollector(registry=r)
        self.upstream_connected = Gauge(
            "ingestor_upstream_connected", "1 while the main upstream socket is open.", registry=r
        )
        self.upstream_sockets = Gauge("ingestor_upstream_sockets", "Upstream sockets open now.", registry=r)
        self.upstream_reconnects = Counter(
            "ingestor_upstream_reconnects_total", "Upstream reconnect attempts.", ["socket_role"], registry=r
        )
        self.upstream_messages_sent = Counter(
            "ingestor_upstream_messages_sent_total", "Messages sent to the upstream.", registry=r
        )
        self.frames = Counter(
            "ingestor_frames_total", "Upstream frames received, by top-level key.", ["key"], registry=r
        )
        self.unknown_keys = Counter(
            "ingestor_unknown_keys_total", "Top-level frame keys this version does not know.", registry=r
        )
        self.parse_errors = Counter(
            "ingestor_parse_errors_total",
            "Frames or frame parts discarded as malformed.",
            ["kind"],
            registry=r,
        )
        self.last_frame = Gauge(
            "ingestor_last_frame_timestamp_seconds",
            "When the last upstream frame arrived (Unix s).",
            registry=r,
        )
        self.events_published = Counter(
            "ingestor_events_published_total", "Events published on the bus.", ["topic"], registry=r
        )
        self.publish_latency = Histogram(
            "ingestor_publish_latency_seconds",
            "From frame arrival to the bus acknowledging its events.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.publish_failures = Counter(
            "ingestor_publish_failures_total", "Publish attempts that failed (retried).", registry=r
        )
        self.events_dropped = Counter(
            "ingestor_events_dropped_total",
            "Events never published: dropped by a full publish queue (overflow, marked by gap notices) or "
            "discarded when leadership was lost (leadership_lost, marked by the next leader).",
            ["reason"],
            registry=r,
        )
        self.gaps = Counter(
            "ingestor_gaps_total", "Gap notices published, by topic and reason.", ["topic", "reason"], registry=r
        )
        self.publish_queue_depth = Gauge(
            "ingestor_publish_queue_depth", "Work items waiting in the publish queue.", registry=r
        )
        self.reads_paused = Gauge(
            "ingestor_upstream_reads_paused", "1 while upstream reads are paused by a full publish queue.", registry=r
        )
        self.reads_paused_seconds = Counter(
            "ingestor_upstream_reads_paused_seconds_total",
            "Time upstream reads spent paused by a full publish queue.",
            registry=r,
        )
        self.backfilled_blocks = Counter(
            "ingestor_backfilled_blocks_total", "Blocks recovered after an outage.", ["source"], registry=r
        )
        self.tracked_addresses = Gauge("ingestor_tracked_addresses", "Addresses tracked upstream now.", registry=r)
        self.address_capacity = Gauge("ingestor_address_capacity", "Most addresses the pool can track now.", registry=r)
        self.rejected_addresses = Gauge("ingestor_rejected_addresses", "Leased addresses beyond capacity.", registry=r)
        self.tracked_txs = Gauge("ingestor_tracked_txs", "Transactions tracked upstream now.", registry=r)
        self.tx_capacity = Gauge("ingestor_tx_capacity", "Most transactions the pool can track now.", registry=r)
        self.rejected_txs = Gauge("ingestor_rejected_txs", "Leased transactions beyond capacity.", registry=r)
        self.tx_status_checks = Counter(
            "ingestor_tx_status_checks_total",
            "Transaction statuses read over REST (after a reconnect, a takeover, a new lease or a recheck), by "
            "outcome: confirmed, unconfirmed or failed.",
            ["outcome"],
            registry=r,
        )
        self.leader = Gauge("ingestor_leader", "1 while this replica holds the leader lease.", registry=r)
        self.bus_up = Gauge("ingestor_bus_up", "1 while the event bus answers.", registry=r)

        self._frames_by_key = ChildrenByLabel(self.frames)
        self._published_by_topic = ChildrenByLabel(self.events_published)

    def count_frame_keys(self, keys: list[str]) -> None:
        """Count a frame's keys, folding unknown ones into one label so cardinality stays bounded."""
        for key in keys:
            self._frames_by_key[key if key in KNOWN_FRAME_KEYS else "other"].inc()

    def count_published(self, topics: list[str]) -> None:
        """Count published events by topic (per-address topics fold into ``address``)."""
        per_label: dict[str, int] = {}
        for topic in topics:
            label = topic_label(topic)
            per_label[label] = per_label.get(label, 0) + 1
        for label, count in per_label.items():
            self._published_by_topic[label].inc(count)
