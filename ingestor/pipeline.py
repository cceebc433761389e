"""The pool's sink: normalize each frame, count what came in, and feed the publisher's core."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence

from ingestor.metrics import IngestorMetrics
from ingestor.normalize import ControlReplies, NormalizedFrame, Normalizer
from ingestor.publisher import Publisher
from ingestor.upstream.gate import ReadGate
from ingestor.upstream.pool import MAIN_SOCKET

log = logging.getLogger(__name__)

WARNING_INTERVAL_S = 1.0


class IngestPipeline:
    """Turns upstream frames and socket events into publisher inputs."""

    def __init__(self, network: str, publisher: Publisher, metrics: IngestorMetrics) -> None:
        self._normalizer = Normalizer(network)
        self._publisher = publisher
        self._metrics = metrics
        self._last_warning = 0.0
        self._suppressed = 0
        self.main_connected = False
        self.last_frame_ms: int | None = None

    @property
    def gate(self) -> ReadGate:
        """Closed while the publish queue is full: the sockets stop reading."""
        return self._publisher.gate

    async def on_frame(
        self, raw: str | bytes, received_ms: int, tracked: Sequence[str], socket: str = MAIN_SOCKET
    ) -> ControlReplies:
        """Normalize and queue one frame from ``socket``; return its control replies (pong, list errors)."""
        frame = self._normalizer.normalize(raw, received_ms=received_ms, tracked=tracked)
        self.last_frame_ms = received_ms
        self._count(frame)
        if frame.control.track_addresses_error is not None:
            self._publisher.tracking_cleared(socket, received_ms)
        self._publisher.frame(frame, received_ms)
        return frame.control

    def on_tracking(self, socket: str, addresses: Sequence[str], received_ms: int) -> None:
        """The upstream confirmed the list ``socket`` carries."""
        self._publisher.tracking_confirmed(socket, addresses, received_ms)

    def on_addresses(self, addresses: Collection[str]) -> None:
        """The addresses the pool should track from now on."""
        self._publisher.addresses_wanted(addresses)

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
        """A socket (re)connected."""
        main = name == MAIN_SOCKET
        if main:
            self.main_connected = True
            self._metrics.upstream_connected.set(1)
        self._publisher.socket_up(name, main=main, reconnect=reconnect)

    async def on_socket_down(self, name: str, addresses: Sequence[str], reason: str) -> None:
        """A socket closed (it will be reopened)."""
        main = name == MAIN_SOCKET
        if main:
            self.main_connected = False
            self._metrics.upstream_connected.set(0)
        self._publisher.socket_down(name, main=main)
