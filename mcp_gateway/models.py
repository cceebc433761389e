"""The structured results of the gateway's tools (their output schemas)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from mcp_gateway.availability import BusState, Status
from shared.models import AddressActivity, Block, FeeChartPoint, GapNotice, MempoolBlocks, Stats


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "gap" if "gap" in value else "data"
    return "gap" if isinstance(value, GapNotice) else "data"


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    v: int = Field(description="Envelope version (1).")
    id: str = Field(description="Event id: a decimal integer, increasing across all topics of the network.")
    network: str = Field(description="Bitcoin network.")
    topic: str = Field(description="Topic of the event.")
    ts_ms: int = Field(description="When the ingestor received the upstream data, Unix ms.")


class BlockEnvelope(_Envelope):
    """A new block, or a gap notice when blocks were missed and could not be recovered."""

    data: Annotated[Annotated[Block, Tag("data")] | Annotated[GapNotice, Tag("gap")], Discriminator(_kind)]


class MempoolBlocksEnvelope(_Envelope):
    """Projected next blocks (a full replacement of the previous projection)."""

    data: Annotated[Annotated[MempoolBlocks, Tag("data")] | Annotated[GapNotice, Tag("gap")], Discriminator(_kind)]


class StatsEnvelope(_Envelope):
    """Mempool statistics, recommended fees and the difficulty adjustment."""

    data: Annotated[Annotated[Stats, Tag("data")] | Annotated[GapNotice, Tag("gap")], Discriminator(_kind)]


class FeeChartEnvelope(_Envelope):
    """One point of the 2-hour fee histogram chart."""

    data: Annotated[Annotated[FeeChartPoint, Tag("data")] | Annotated[GapNotice, Tag("gap")], Discriminator(_kind)]


class AddressEnvelope(_Envelope):
    """Transactions of a tracked address, or a gap notice after an upstream outage."""

    data: Annotated[Annotated[AddressActivity, Tag("data")] | Annotated[GapNotice, Tag("gap")], Discriminator(_kind)]


EnvelopeT = TypeVar("EnvelopeT", bound=_Envelope)


class Freshness(BaseModel):
    """How fresh the upstream data is right now, and why a call may have been quiet."""

    status: Status = Field(
        description="ok; degraded (no ingestor reporting, upstream disconnected or stale, Redis refusing writes); "
        "down (network not served, Redis unreachable, gateway shutting down)."
    )
    reasons: list[str] = Field(default_factory=list, description="Why the status is not ok.")
    upstream_connected: bool = Field(description="Whether the ingestor is connected to mempool.space.")
    last_upstream_frame_age_s: float | None = Field(
        default=None, description="Seconds since the ingestor last heard from the upstream."
    )


class StreamResult(BaseModel, Generic[EnvelopeT]):
    """Events of one topic and the cursor to continue from."""

    network: str = Field(description="Bitcoin network.")
    topic: str = Field(description="Topic streamed.")
    events: list[EnvelopeT] = Field(description="Events in order, oldest first.")
    cursor: str = Field(description="Pass back as 'cursor' to resume right after the last event seen (on any gateway).")
    gap: bool = Field(
        description="True when events between your cursor and these were lost (the cursor was too old or "
        "from before a restart); re-read the latest snapshot with want=false."
    )
    timed_out: bool = Field(description="True when the call returned because timeout_s passed.")
    freshness: Freshness = Field(description="Upstream freshness when the call returned.")


class TopicAge(BaseModel):
    """Age of a topic's latest event."""

    topic: str
    latest_id: str | None = Field(default=None, description="Id of the latest event, if any.")
    age_s: float | None = Field(default=None, description="Seconds since that event was ingested.")


class HealthReport(BaseModel):
    """Health of the service for one network."""

    status: Status = Field(
        description="ok when all is well; degraded: waiting calls wait and return what arrives (see reasons); "
        "down: this network is not served, or Redis is unreachable, or this gateway is shutting down."
    )
    reasons: list[str] = Field(default_factory=list, description="What is wrong, when status is not ok.")
    network: str
    bus: BusState = Field(
        description="The event bus (Redis): ok, unreachable, credentials_refused, out_of_memory or read_only "
        "(it answers but refuses writes), error."
    )
    bus_kind: Literal["redis", "embedded"]
    upstream_connected: bool
    last_upstream_frame_age_s: float | None = None
    topics: list[TopicAge] = Field(default_factory=list, description="Latest event age per topic.")
    tracked_addresses: int | None = Field(default=None, description="Addresses tracked upstream now.")
    address_capacity: int | None = Field(default=None, description="Most addresses that can be tracked.")
    active_streams: int = Field(description="Stream calls this gateway process is serving.")
    version: str


class AlertResult(BaseModel):
    """Outcome of waiting for a metric to cross a threshold."""

    triggered: bool = Field(description="True when the condition held (at once or later).")
    already_true: bool = Field(description="True when the condition already held when the call started.")
    metric: str
    condition: str = Field(description="The condition, e.g. 'mempool_vsize_mb above 300'.")
    value: float | None = Field(default=None, description="Latest observed value of the metric.")
    observed_at_ms: int | None = Field(default=None, description="Ingest time of that value, Unix ms.")
    event_id: str | None = Field(default=None, description="Id of the event carrying that value.")
    waited_s: float = Field(description="Seconds the call waited.")
    cursor: str = Field(description="Resume point; pass it back to keep watching without missing updates.")
    freshness: Freshness
