"""What normalizing one upstream frame yields."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Publication
from shared.models import Block


@dataclass(frozen=True)
class ControlReplies:
    """Upstream replies that are not data."""

    pong: bool = False
    track_addresses_error: str | None = None
    track_scriptpubkeys_error: str | None = None
    track_txs_error: str | None = None
    """``track-txs-error``: the list was too long or not an array; the upstream closes the socket next."""


@dataclass(frozen=True)
class NormalizedFrame:
    """The events and side results of one frame.

    ``publications`` follow frame key order; events gathered over several keys (the one ``stats``
    event, the ``address:{addr}`` and ``tx:{txid}`` events) sit where the first key feeding them was.
    ``stats`` is published only when at least one stats part of the frame could be read.
    """

    publications: list[Publication]
    new_block: Block | None
    blocks_snapshot: list[Block]
    control: ControlReplies
    keys: list[str]
    unknown_keys: list[str]
    ignored_keys: list[str]
    errors: list[str]
