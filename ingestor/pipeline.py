"""The pool's sink: normalize each frame, count what came in, and feed the publisher's core.

Each socket's frame is kept to what that socket is for: address events only from the socket whose list
carries the address, transaction events only from the socket whose list carries the txid, and blocks only
from the main socket (transaction sockets want ``blocks`` only to read confirmation heights). The real
upstream sends a socket nothing else, but a frame sent to every socket, or a list on its way from one
socket to another, would otherwise be published more than once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import replace

from ingestor.metrics import IngestorMetrics
from ingestor.normalize import ControlReplies, NormalizedFrame, Normalizer
from ingestor.publisher import Publisher
from ingestor.upstream.gate import ReadGate
from ingestor.upstream.pool import MAIN_SOCKET
from ingestor.upstream.tracking import Role
from shared.events import ADDRESS_TOPIC_PREFIX, TX_TOPIC_PREFIX

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
        self._reported: dict[str, set[str]] = {}
        self._last_read: dict[str, int] = {}

    @property
    def gate(self) -> ReadGate:
        """Closed while the publish queue is full: the sockets stop reading."""
        return self._publisher.gate

    async def on_frame(
        self,
        raw: str | bytes,
        received_ms: int,
        tracked: Sequence[str],
        socket: str = MAIN_SOCKET,
        role: Role = "main",
    ) -> ControlReplies:
        """Normalize and queue one frame from ``socket`` (carrying ``tracked``: addresses or txids, by
        ``role``); return its control replies (pong, list errors)."""
        addresses = tracked if role == "addresses" else ()
        frame = self._normalizer.normalize(raw, received_ms=received_ms, tracked=addresses)
        self.last_frame_ms = self._last_read[socket] = received_ms
        self._count(frame)
        if frame.control.track_addresses_error is not None:
            self._publisher.tracking_cleared(socket, received_ms)
        frame = _kept(frame, tracked, role)
        if role == "txs" and frame.control.pong:
            prefix = len(TX_TOPIC_PREFIX)
            self._reported[socket] = {p.topic[prefix:] for p in frame.publications if "gap" not in p.data}
        self._publisher.frame(frame, received_ms)
        return frame.control

    def on_tracking(self, socket: str, keys: Sequence[str], received_ms: int, role: Role = "addresses") -> None:
        """The upstream confirmed the list ``socket`` carries (by the pong of the frame just handled, whose
        transactions are the reply to a transaction list)."""
        if role == "txs":
            reported = self._reported.pop(socket, set())
            self._publisher.tx_tracking_confirmed(socket, keys, reported, received_ms)
        else:
            self._publisher.tracking_confirmed(socket, keys, received_ms)

    def on_wanted(self, role: Role, keys: Collection[str]) -> None:
        """The addresses or txids the pool should track from now on."""
        if role == "txs":
            self._publisher.txs_wanted(keys)
        else:
            self._publisher.addresses_wanted(keys)

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
        self._reported.pop(name, None)
        self._publisher.socket_down(name, main=main, last_read_ms=self._last_read.pop(name, None))


def _kept(frame: NormalizedFrame, tracked: Sequence[str], role: Role) -> NormalizedFrame:
    """``frame`` without what its socket does not carry (see the module)."""
    keep = set(tracked)
    own_prefix = {"addresses": ADDRESS_TOPIC_PREFIX, "txs": TX_TOPIC_PREFIX}.get(role)
    publications = []
    for publication in frame.publications:
        topic = publication.topic
        for prefix in (ADDRESS_TOPIC_PREFIX, TX_TOPIC_PREFIX):
            if topic.startswith(prefix) and (prefix != own_prefix or topic[len(prefix) :] not in keep):
                break
        else:
            publications.append(publication)
    if role == "main":
        return frame if len(publications) == len(frame.publications) else replace(frame, publications=publications)
    return replace(frame, publications=publications, new_block=None, blocks_snapshot=[])
