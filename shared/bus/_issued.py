"""What one publisher was given, so that a sequence that went backwards can be detected and described.

Redis replication is asynchronous: a master acknowledges a publish before its replicas have it. When it
fails and Sentinel promotes a replica, the newest events (and their ids) are gone, and the id counter
stands lower than ids already handed out. The publish script is given the epoch and the highest id this
publisher was given (:meth:`Issued.floor`); when the server's counter is below it in the same epoch, the
script lifts the counter above it (an id is never given out twice in an epoch) and returns the counter
it found. :meth:`Issued.regression` then names the topics that may have lost events: those whose last
event here has an id above that counter.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Sequence

from shared.bus.base import SequenceRegression
from shared.events import Event

MAX_TOPICS = 10_000
"""Topics remembered per network (the oldest forgotten first); beyond it a loss is named less precisely."""
MAX_EVENTS = 4096
"""Recent events remembered per network, to date the start of a loss."""


class Issued:
    """The ids one backend was given on one network, in one epoch."""

    def __init__(self, network: str) -> None:
        self.network = network
        self.epoch = ""
        self.highest = 0
        self._topics: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._events: deque[tuple[int, int, str]] = deque(maxlen=MAX_EVENTS)

    def floor(self) -> tuple[str, int]:
        """The epoch and the highest id given out in it ('' and 0 before the first publish)."""
        return self.epoch, self.highest

    def record(self, epoch: str, events: Sequence[Event]) -> None:
        """Remember ``events``, just published in ``epoch``."""
        if epoch != self.epoch:
            self.epoch, self.highest = epoch, 0
            self._topics.clear()
            self._events.clear()
        for event in events:
            self.highest = max(self.highest, event.seq)
            self._topics[event.topic] = (event.seq, event.ts_ms)
            self._topics.move_to_end(event.topic)
            self._events.append((event.seq, event.ts_ms, event.topic))
        while len(self._topics) > MAX_TOPICS:
            self._topics.popitem(last=False)

    def regression(self, held_id: int, lost_to_id: int) -> SequenceRegression:
        """The loss of the ids above ``held_id`` up to ``lost_to_id``: the topics they belonged to, and when."""
        first_ms: dict[str, int] = {}
        for seq, ts_ms, topic in self._events:
            if seq > held_id:
                first_ms.setdefault(topic, ts_ms)
        oldest_ms = self._events[0][1] if self._events else None
        topics: dict[str, tuple[int, int]] = {}
        for topic, (seq, ts_ms) in self._topics.items():
            if seq > held_id:
                start = first_ms.get(topic, min(ts_ms, oldest_ms) if oldest_ms is not None else ts_ms)
                topics[topic] = (start, ts_ms)
        return SequenceRegression(
            network=self.network,
            epoch=self.epoch,
            held_id=held_id,
            lost_to_id=lost_to_id,
            topics=topics,
            detected_ms=int(time.time() * 1000),
        )
