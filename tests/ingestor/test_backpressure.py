"""The I/O side of backpressure: a paused socket stays open, a fenced publisher ends its drain at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from ingestor.metrics import IngestorMetrics
from ingestor.normalize import ControlReplies, NormalizedFrame
from ingestor.publisher import Publisher
from ingestor.upstream.connection import ConnectionLimits, UpstreamConnection
from ingestor.upstream.gate import ReadGate
from shared.bus.memory import MemoryBackend
from shared.errors import BusUnavailable
from shared.events import Event, Publication
from simulator import Simulator
from tests.faults.helpers import until

LIMITS = ConnectionLimits(
    ping_after_silence_s=0.3, dead_after_silence_s=0.6, backoff_initial_s=0.05, backoff_max_s=0.2, healthy_after_s=0.2
)


class Recorder:
    """A connection handler that wants stats and records what happens."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.closed: list[str] = []

    async def on_connected(self, connection: UpstreamConnection) -> None:
        await connection.send({"action": "want", "data": ["stats"]})

    async def on_frame(self, connection: UpstreamConnection, raw: str | bytes, received_ms: int) -> None:
        self.frames.append(received_ms)

    async def on_disconnected(self, connection: UpstreamConnection, reason: str) -> None:
        self.closed.append(reason)


async def test_a_socket_paused_by_a_full_queue_is_not_taken_for_silent(simulator: Simulator) -> None:
    gate, recorder = ReadGate(), Recorder()
    connection = UpstreamConnection("main", simulator.ws_url, recorder, LIMITS, gate=gate)
    running = asyncio.create_task(connection.run())
    try:
        await until(lambda: len(recorder.frames) >= 3, 10, "stats frames")
        gate.set(False)
        paused_at, before = time.time(), len(recorder.frames)
        await asyncio.sleep(3 * LIMITS.dead_after_silence_s)
        assert len(recorder.frames) <= before + 1, "a closed gate stops the reader"
        assert connection.connected and connection.sessions == 1 and not recorder.closed, "and is not silence"
        gate.set(True)
        await until(lambda: len(recorder.frames) > before + 5, 10, "frames again after the gate opens")
        assert connection.sessions == 1 and not recorder.closed
        assert recorder.frames[before + 1] >= int(paused_at * 1000), "frames held back are stamped when read"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def stats_frame(ts: int) -> NormalizedFrame:
    return NormalizedFrame(
        publications=[Publication("mainnet", "stats", {"n": ts}, ts)],
        new_block=None,
        blocks_snapshot=[],
        control=ControlReplies(),
        keys=[],
        unknown_keys=[],
        ignored_keys=[],
        errors=[],
    )


async def test_a_fenced_publisher_ends_its_drain_at_once_and_counts_what_it_held() -> None:
    backend = MemoryBackend()
    await backend.connect()
    assert await backend.hold_leadership("mainnet", "other", 60)
    metrics = IngestorMetrics(process_metrics=False)
    publisher = Publisher("mainnet", backend, metrics, fence="me", rest=None)
    for ts in range(5):
        publisher.frame(stats_frame(ts), ts)
    running = asyncio.create_task(publisher.run())
    started = time.monotonic()
    await publisher.drain(10)
    assert time.monotonic() - started < 1, "a fenced publisher will never empty its queue: no waiting for it"
    await asyncio.gather(running, return_exceptions=True)
    dropped = metrics.registry.get_sample_value("ingestor_events_dropped_total", {"reason": "leadership_lost"})
    assert dropped == 5
    await backend.close()


async def test_drain_publishes_what_is_queued_before_returning() -> None:
    backend = MemoryBackend()
    await backend.connect()
    assert await backend.hold_leadership("mainnet", "me", 60)
    publisher = Publisher("mainnet", backend, IngestorMetrics(process_metrics=False), fence="me", rest=None)
    running = asyncio.create_task(publisher.run())
    for ts in range(300):
        publisher.frame(stats_frame(ts), ts)
    await publisher.drain(10)
    assert publisher.published == 300 and publisher.core.idle
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await backend.close()


class LostReplyBackend(MemoryBackend):
    """An embedded bus that applies the first publish but loses its reply, as a dropped Redis connection can."""

    def __init__(self) -> None:
        super().__init__()
        self.replies_lost = 0

    async def publish(
        self, publications: Sequence[Publication], *, fence: str | None = None, token: str | None = None
    ) -> list[Event]:
        events = await super().publish(publications, fence=fence, token=token)
        if not self.replies_lost:
            self.replies_lost += 1
            raise BusUnavailable("publish: Redis at redis://127.0.0.1:1/0 is unreachable (ConnectionError)")
        return events


async def test_a_batch_retried_after_a_lost_reply_is_published_once() -> None:
    backend = LostReplyBackend()
    await backend.connect()
    assert await backend.hold_leadership("mainnet", "me", 60)
    publisher = Publisher("mainnet", backend, IngestorMetrics(process_metrics=False), fence="me", rest=None)
    for ts in range(3):
        publisher.frame(stats_frame(ts), ts)
    running = asyncio.create_task(publisher.run())
    await publisher.drain(10)
    page = await backend.history("mainnet", "stats", after=0, limit=10)
    assert backend.replies_lost == 1 and [event.data["n"] for event in page.events] == [0, 1, 2]
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await backend.close()
