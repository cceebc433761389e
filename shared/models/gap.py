"""A gap notice: published on a topic where upstream data was missed and could not be recovered."""

from __future__ import annotations

from pydantic import Field

from shared.models._base import Payload


class GapInfo(Payload):
    """What was missed, as far as the ingestor can tell."""

    reason: str = Field(description="Why the data is missing, e.g. 'upstream outage'.")
    from_ts_ms: int = Field(description="Start of the blind period, Unix ms.")
    to_ts_ms: int = Field(description="End of the blind period, Unix ms.")
    missing_from_height: int | None = Field(default=None, description="First missing block height, if known.")
    missing_to_height: int | None = Field(default=None, description="Last missing block height, if known.")


class GapNotice(Payload):
    """Event data of a gap notice: ``{"gap": {...}}``; no other topic payload has a ``gap`` key."""

    gap: GapInfo
