from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Base of every normalized payload: immutable, unknown fields rejected on construction."""

    model_config = ConfigDict(frozen=True, extra="forbid")
