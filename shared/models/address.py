"""Topic ``address:{address}``: transactions touching one tracked address."""

from __future__ import annotations

from pydantic import Field

from shared.models._base import Payload


class AddressTransaction(Payload):
    """A transaction as it concerns the tracked address."""

    txid: str = Field(description="Transaction id, hex.")
    received_sats: int = Field(description="Sum of outputs paying the address, satoshis.")
    sent_sats: int = Field(description="Sum of inputs spending from the address, satoshis.")
    net_sats: int = Field(description="received_sats - sent_sats, satoshis.")
    fee_sats: int | None = Field(default=None, description="Transaction fee, satoshis.")
    vsize_vb: float | None = Field(default=None, description="Virtual size, vbytes.")
    fee_rate: float | None = Field(default=None, description="Effective fee rate, sat/vB.")
    confirmed: bool = Field(description="Whether it is in a block.")
    block_height: int | None = Field(default=None, description="Height of the confirming block.")
    block_hash: str | None = Field(default=None, description="Hash of the confirming block, hex.")
    block_time_unix_s: int | None = Field(default=None, description="Time of the confirming block, Unix s.")
    first_seen_unix_s: int | None = Field(default=None, description="When the upstream first saw it, Unix s.")


class AddressActivity(Payload):
    """What happened to an address in one upstream update."""

    address: str = Field(description="The tracked address.")
    mempool: list[AddressTransaction] = Field(
        default_factory=list, description="New unconfirmed transactions touching the address."
    )
    confirmed: list[AddressTransaction] = Field(
        default_factory=list, description="Transactions touching the address that were just mined."
    )
    removed: list[AddressTransaction] = Field(
        default_factory=list,
        description="Transactions that left the mempool without being mined (replaced or evicted).",
    )
