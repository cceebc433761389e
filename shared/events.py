"""The versioned event envelope that travels on every Redis channel.

Wire form (one JSON object per message)::

    {"v": 1, "id": "42", "network": "mainnet", "topic": "stats", "ts_ms": 1764000000000, "data": {...}}

``id`` is assigned by the bus when the event is published: a decimal integer, strictly increasing across
all topics of one network, never reused (it survives an ingestor failover). ``ts_ms`` is the ingest time
in Unix milliseconds. ``data`` is the normalized payload of the topic (see :mod:`shared.models`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BusError
from shared.jsoncodec import dumps_compact, loads

ENVELOPE_VERSION = 1

TOPIC_BLOCKS = "blocks"
TOPIC_MEMPOOL_BLOCKS = "mempool-blocks"
TOPIC_STATS = "stats"
TOPIC_LIVE_2H = "live-2h-chart"
STREAM_TOPICS: tuple[str, ...] = (TOPIC_BLOCKS, TOPIC_MEMPOOL_BLOCKS, TOPIC_STATS, TOPIC_LIVE_2H)
ADDRESS_TOPIC_PREFIX = "address:"
TX_TOPIC_PREFIX = "tx:"


def address_topic(address: str) -> str:
    """The topic of one tracked address: ``address:{address}``."""
    return ADDRESS_TOPIC_PREFIX + address


def is_address_topic(topic: str) -> bool:
    """Whether ``topic`` is a per-address topic."""
    return topic.startswith(ADDRESS_TOPIC_PREFIX)


def tx_topic(txid: str) -> str:
    """The topic of one tracked transaction: ``tx:{txid}`` (64 lower-case hex digits)."""
    return TX_TOPIC_PREFIX + txid


def is_tx_topic(topic: str) -> bool:
    """Whether ``topic`` is a per-transaction topic."""
    return topic.startswith(TX_TOPIC_PREFIX)


@dataclass(frozen=True, slots=True)
class Publication:
    """An event before the bus has given it an id: what the ingestor hands to ``Bus.publish``."""

    network: str
    topic: str
    data: dict[str, Any]
    ts_ms: int

    def envelope_parts(self) -> tuple[str, str]:
        """The envelope JSON split around the id, so the bus can insert the id without re-encoding."""
        head = f'{{"v":{ENVELOPE_VERSION},"id":"'
        data = dumps_compact(self.data)
        tail = (
            f'","network":{json.dumps(self.network)},"topic":{json.dumps(self.topic)},'
            f'"ts_ms":{int(self.ts_ms)},"data":{data}}}'
        )
        return head, tail


@dataclass(frozen=True, slots=True)
class Event:
    """A published event: the envelope fields plus its exact JSON text (``raw``), encoded once."""

    id: str
    network: str
    topic: str
    ts_ms: int
    data: dict[str, Any]
    raw: str = field(repr=False, compare=False)
    v: int = ENVELOPE_VERSION

    @property
    def seq(self) -> int:
        """The id as an integer, for ordering."""
        return int(self.id)

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a plain dict."""
        return {
            "v": self.v,
            "id": self.id,
            "network": self.network,
            "topic": self.topic,
            "ts_ms": self.ts_ms,
            "data": self.data,
        }

    @classmethod
    def from_publication(cls, publication: Publication, event_id: int, parts: tuple[str, str] | None = None) -> Event:
        """The event that ``publication`` becomes once the bus gives it ``event_id``.

        ``parts`` are its :meth:`Publication.envelope_parts` when the caller already encoded them.
        """
        head, tail = parts or publication.envelope_parts()
        return cls(
            id=str(event_id),
            network=publication.network,
            topic=publication.topic,
            ts_ms=publication.ts_ms,
            data=publication.data,
            raw=f"{head}{event_id}{tail}",
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        """Parse an envelope; raise :class:`BusError` when it is not one."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            obj = loads(text)
            if obj["v"] != ENVELOPE_VERSION:
                raise BusError(f"unsupported envelope version {obj['v']!r}")
            event_id = str(obj["id"])
            if not event_id.isdigit():
                raise BusError(f"envelope id {event_id!r} is not a decimal integer")
            data = obj["data"]
            if not isinstance(data, dict):
                raise BusError("envelope data is not an object")
            return cls(
                id=event_id,
                network=str(obj["network"]),
                topic=str(obj["topic"]),
                ts_ms=int(obj["ts_ms"]),
                data=data,
                raw=text,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BusError(f"not an event envelope: {exc}") from exc
