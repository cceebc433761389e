"""Ingestor timings scaled down for tests: the same behaviour as production, in fractions of a second."""

from __future__ import annotations

from typing import Any

FAST_INGESTOR_SETTINGS: dict[str, Any] = {
    "ping_after_silence_s": 0.6,
    "dead_after_silence_s": 1.2,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.5,
    "healthy_after_s": 0.5,
    "connect_timeout_s": 2.0,
    "leader_ttl_s": 2.0,
    "leader_renew_s": 0.4,
    "lease_poll_interval_s": 0.1,
    "status_interval_s": 0.2,
    "metrics_port": 0,
}
"""IngestorSettings overrides (ping after 0.6 s of silence, backoff capped at 0.5 s, leases read every 0.1 s...)."""
