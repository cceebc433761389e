"""The ingestor's status record, written to the bus and read by gateways for ``health``."""

from __future__ import annotations

from pydantic import Field

from shared.models._base import Payload


class IngestorStatus(Payload):
    """A snapshot of the active ingestor of one network."""

    network: str = Field(description="Network served.")
    holder: str = Field(description="Identity of the ingestor replica that wrote this.")
    upstream_connected: bool = Field(description="Whether the main upstream socket is open.")
    sockets: int = Field(description="Upstream sockets open now.")
    tracked_addresses: int = Field(description="Addresses tracked upstream now.")
    address_capacity: int = Field(description="Most addresses the pool can track.")
    rejected_addresses: list[str] = Field(
        default_factory=list, description="Leased addresses that could not be tracked (capacity)."
    )
    tracked_txs: int = Field(default=0, description="Transactions tracked upstream now.")
    tx_capacity: int = Field(default=0, description="Most transactions the pool can track.")
    rejected_txids: list[str] = Field(
        default_factory=list, description="Leased transactions that could not be tracked (capacity)."
    )
    last_frame_ms: int | None = Field(default=None, description="When the last upstream frame arrived, Unix ms.")
    updated_ms: int = Field(description="When this record was written, Unix ms.")
