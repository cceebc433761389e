from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Base of every normalized payload: immutable; unknown fields (from newer ingestors) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")
