"""What this gateway can serve now: one verdict, from the same facts ``health`` and ``/readyz`` report.

The facts (gathered by :meth:`Gateway.availability`, shared by concurrent callers, cached briefly): the
networks this deployment serves, whether this process is shutting down, whether the bus answers (and if
not, why; if it answers, whether it refuses writes), the ingestor's status record, and the newest event
of each topic (an event newer than the status record shows data flowing that the record does not yet).
:func:`assess` turns them into a status with reasons, and admission follows from that status alone, so
``health``, ``/readyz`` and the tools can never disagree:

* **down**: a network this deployment does not serve (every call refused at once, naming the served
  ones), this process shutting down (waiting calls return at once with what they have), or the bus
  unreachable (a waiting call is admitted and rides the outage out within its ``timeout_s``; a pull has
  nothing to read and says so).
* **degraded**: the bus refuses writes (out of memory, a read-only replica), no ingestor is reporting
  (starting, failing over, Redis lost its data), the ingestor is disconnected from the upstream, or its
  data is stale. Transient states: everything is admitted, waiting calls wait, and ``freshness`` says why
  they were quiet.
* **ok**: data is flowing.

Readiness: ``/readyz`` is true exactly when the gateway's own network is not *down*, that is when the
bus answers and this process is not shutting down, the states in which a waiting call gets every event
that is published. A missing ingestor does not fail readiness on purpose: every pod behind the Service
shares it, so failing them all would take the Service away from agents who can still get a truthful
``degraded`` answer, a pull of the last snapshot, or a waiting call that returns the first event once the
ingestor is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.errors import BusError, BusOutOfMemory, BusReadOnly, BusUnavailable
from shared.events import TOPIC_BLOCKS, TOPIC_LIVE_2H, TOPIC_MEMPOOL_BLOCKS, TOPIC_STATS
from shared.models import IngestorStatus

Status = Literal["ok", "degraded", "down"]
BusState = Literal["ok", "unreachable", "credentials_refused", "out_of_memory", "read_only", "error"]

UNREACHABLE: frozenset[BusState] = frozenset({"unreachable", "credentials_refused"})
REFUSES_WRITES: frozenset[BusState] = frozenset({"out_of_memory", "read_only"})
BUS_REASONS: dict[BusState, str] = {
    "unreachable": "the event bus (Redis) is unreachable from this gateway",
    "credentials_refused": "the event bus (Redis) refused this gateway's credentials",
    "out_of_memory": "the event bus (Redis) is out of memory and refuses writes, so no new events are published",
    "read_only": "the event bus (Redis) is a read-only replica and refuses writes, so no new events are published",
    "error": "the event bus (Redis) answers with errors",
}
TOPIC_CADENCE = {
    TOPIC_BLOCKS: "about every 10 minutes",
    TOPIC_MEMPOOL_BLOCKS: "about every 2 s",
    TOPIC_STATS: "about every 2 s",
    TOPIC_LIVE_2H: "about every minute",
}
"""How often the mempool upstream produces each topic (an address produces events when it is paid)."""


def bus_state(error: BusError) -> BusState:
    """What a bus error says about the bus."""
    text = str(error)
    if isinstance(error, BusOutOfMemory) or "OOM" in text:
        return "out_of_memory"
    if isinstance(error, BusReadOnly) or "READONLY" in text:
        return "read_only"
    if isinstance(error, BusUnavailable):
        return "credentials_refused" if "credentials" in text else "unreachable"
    return "error"


@dataclass(frozen=True, slots=True)
class TopicLatest:
    """The newest event of a topic, as far as availability cares."""

    topic: str
    event_id: str | None
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything availability is decided from."""

    network: str
    served: tuple[str, ...]
    shutting_down: bool
    bus: BusState
    ingestor: IngestorStatus | None
    topics: tuple[TopicLatest, ...]
    stale_after_s: float
    now_s: float

    @property
    def newest_event_ms(self) -> int | None:
        """Ingest time of the newest event of any topic."""
        return max((topic.ts_ms for topic in self.topics if topic.ts_ms is not None), default=None)

    @property
    def upstream_connected(self) -> bool:
        """What the status record says, unless an event newer than the record proves data flows since."""
        status = self.ingestor
        if status is None:
            return False
        return status.upstream_connected or (self.newest_event_ms or 0) > status.updated_ms

    @property
    def data_age_s(self) -> float | None:
        """Seconds since the upstream last delivered: its last frame, or a newer event."""
        frame = self.ingestor.last_frame_ms if self.ingestor else None
        newest = max((ms for ms in (frame, self.newest_event_ms) if ms), default=None)
        return self.now_s - newest / 1000 if newest is not None and self.ingestor is not None else None


@dataclass(frozen=True, slots=True)
class Availability:
    """The verdict for one network: status, reasons, and what follows for admission."""

    network: str
    status: Status
    reasons: tuple[str, ...]
    quiet_reason: str
    """Metric label of the first reason (``no_events`` when nothing is wrong): why a wait may be quiet."""
    served: tuple[str, ...]
    bus: BusState
    ingestor: IngestorStatus | None
    upstream_connected: bool
    last_frame_age_s: float | None
    topics: tuple[TopicLatest, ...]
    shutting_down: bool

    @property
    def network_served(self) -> bool:
        """Whether this deployment serves the network at all."""
        return self.network in self.served

    @property
    def ready(self) -> bool:
        """Whether a waiting call gets every event published now (``/readyz`` of the gateway's network)."""
        return self.status != "down"

    @property
    def bus_reachable(self) -> bool:
        """Whether the bus answers (reads work, even if it refuses writes)."""
        return self.bus not in UNREACHABLE

    def refusal(self) -> str | None:
        """Why every call for this network is refused at once, or None: calls are admitted."""
        return None if self.network_served else self.reasons[0]


def assess(facts: Facts) -> Availability:
    """The verdict from ``facts``: the one function behind health, readiness and admission."""
    reachable = facts.bus not in UNREACHABLE
    age = facts.data_age_s if reachable else None
    problems = _problems(facts, age)
    down = {"network_not_served", "shutting_down", "bus_unreachable", "bus_credentials_refused"}
    status: Status = "ok" if not problems else "down" if problems[0][0] in down else "degraded"
    return Availability(
        network=facts.network,
        status=status,
        reasons=tuple(text for _, text in problems),
        quiet_reason=problems[0][0] if problems else "no_events",
        served=facts.served,
        bus=facts.bus,
        ingestor=facts.ingestor if reachable else None,
        upstream_connected=reachable and facts.upstream_connected,
        last_frame_age_s=age,
        topics=facts.topics if reachable else (),
        shutting_down=facts.shutting_down,
    )


def _problems(facts: Facts, age: float | None) -> list[tuple[str, str]]:
    network = facts.network
    if network not in facts.served:
        return [("network_not_served", not_served_reason(network, facts.served))]
    problems = []
    if facts.shutting_down:
        problems.append(("shutting_down", "this gateway process is shutting down, so waiting calls return at once"))
    if facts.bus != "ok":
        problems.append((f"bus_{facts.bus}", BUS_REASONS[facts.bus]))
    if facts.bus in UNREACHABLE:
        return problems
    status = facts.ingestor
    if status is None and facts.bus in REFUSES_WRITES:
        return problems  # its status record cannot be written either: the bus reason says it all
    if status is None:
        problems.append(
            (
                "no_ingestor",
                f"no ingestor is reporting for {network} (starting, failing over, or Redis lost its data); "
                "events resume as soon as one publishes",
            )
        )
        return problems
    if not facts.upstream_connected:
        problems.append(("upstream_disconnected", "the ingestor is disconnected from the mempool upstream"))
    if age is None:
        problems.append(("upstream_stale", "no upstream data yet"))
    elif age > facts.stale_after_s:
        problems.append(("upstream_stale", f"no upstream data for {age:.0f} s"))
    return problems


def not_served_reason(network: str, served: tuple[str, ...]) -> str:
    """Why a network is refused, and what to do instead (one sentence)."""
    return (
        f"this deployment does not serve {network}, only {', '.join(served)}: use one of those, or to serve "
        f"{network} run an ingestor for it (mempool-ws ingest --network {network}) and add it to the "
        "gateways' MEMPOOL_WS_NETWORKS"
    )


def no_data_message(availability: Availability, topic: str) -> str:
    """What a pull that found no event of ``topic`` says: why, and when or how to get one."""
    network = availability.network
    cadence = TOPIC_CADENCE.get(topic)
    if availability.status == "ok" and cadence is not None:
        return (
            f"no {topic} event on {network} yet; the upstream sends one {cadence}, so call again then, "
            "or call with want=true to wait for it"
        )
    why = f" ({availability.reasons[0]})" if availability.reasons else ""
    return f"no {topic} event on {network} yet{why}; call with want=true to wait for the first one"


def bus_failure_message(state: BusState) -> str:
    """What a call that needed the bus and could not read it says (one sentence)."""
    return (
        f"{BUS_REASONS[state]}; call with want=true to wait until it answers again, or call health to follow the outage"
    )
