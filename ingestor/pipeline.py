"""The pool's sink: normalize each frame, count what came in, and hand the events to the publisher."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from ingestor.metrics import IngestorMetrics
from ingestor.normalize import NormalizedFrame, Normalizer
from ingestor.publisher import Publisher, Work
from ingestor.upstream.pool import MAIN_SOCKET

log = logging.getLogger(__name__)

WARNING_INTERVAL_S = 1.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class IngestPipeline:
    """Turns upstream frames into publisher work; remembers outages to repair them on reconnect."""

    def __init__(self, network: str, publisher: Publisher, metrics: IngestorMetrics) -> None:
        self._normalizer = Normalizer(network)
        self._publisher = publisher
        self._metrics = metrics
        self._down_since: dict[str, int] = {}
        self._main_outage_from: int | None = None
        self._last_warning = 0.0
        self._suppressed = 0
        self.main_connected = False
        self.last_frame_ms: int | None = None

    async def on_frame(self, raw: str | bytes, received_ms: int, tracked: Sequence[str]) -> str | None:
        frame = self._normalizer.normalize(raw, received_ms=received_ms, tracked=tracked)
        self.last_frame_ms = received_ms
        self._count(frame)
        blocks = ([frame.new_block] if frame.new_block else []) + frame.blocks_snapshot
        if frame.publications or blocks:
            outage_from = None
            if blocks:
                outage_from, self._main_outage_from = self._main_outage_from, None
            self._publisher.submit(
                Work(received_ms, publications=frame.publications, blocks=blocks, outage_from_ms=outage_from)
            )
        return frame.control.track_addresses_error

    def _count(self, frame: NormalizedFrame) -> None:
        metrics = self._metrics
        metrics.last_frame.set((self.last_frame_ms or 0) / 1000)
        metrics.count_frame_keys(frame.keys)
        if frame.unknown_keys:
            metrics.unknown_keys.inc(len(frame.unknown_keys))
        for error in frame.errors:
            metrics.parse_errors.labels("frame" if error.startswith("frame") else "payload").inc()
        if frame.errors or frame.unknown_keys:
            self._warn(frame)

    def _warn(self, frame: NormalizedFrame) -> None:
        now = time.monotonic()
        if now - self._last_warning < WARNING_INTERVAL_S:
            self._suppressed += 1
            return
        log.warning(
            "discarded malformed upstream data: %s",
            "; ".join(frame.errors[:3]) or "unknown keys only",
            extra={"unknown_keys": frame.unknown_keys[:10], "similar_warnings_suppressed": self._suppressed},
        )
        self._last_warning, self._suppressed = now, 0

    async def on_socket_up(self, name: str, addresses: Sequence[str], reconnect: bool) -> None:
        now = _now_ms()
        down_since = self._down_since.pop(name, None)
        if name == MAIN_SOCKET:
            self.main_connected = True
            self._metrics.upstream_connected.set(1)
            if reconnect:
                self._main_outage_from = down_since or now
            self._publisher.submit(Work(now, backfill_chart=True, outage_from_ms=down_since))
        elif reconnect and addresses:
            self._publisher.submit(Work(now, gap_addresses=list(addresses), outage_from_ms=down_since or now))

    async def on_socket_down(self, name: str, addresses: Sequence[str], reason: str) -> None:
        self._down_since.setdefault(name, _now_ms())
        if name == MAIN_SOCKET:
            self.main_connected = False
            self._metrics.upstream_connected.set(0)
