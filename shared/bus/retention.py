"""How much history each topic keeps, and for how long."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import is_address_topic, is_tx_topic


def is_tracked_topic(topic: str) -> bool:
    """Whether ``topic`` exists because someone tracks it (an address or a transaction), so it is small and
    should expire once nobody does."""
    return is_address_topic(topic) or is_tx_topic(topic)


@dataclass(frozen=True, slots=True)
class Retention:
    """History bounds: stream topics keep ``history_size`` events; tracked topics (``address:{address}``
    and ``tx:{txid}``) keep fewer, and expire ``address_ttl_s`` after their last event."""

    history_size: int = 1000
    address_history_size: int = 200
    address_ttl_s: int = 86_400

    def max_len(self, topic: str) -> int:
        """Events kept in the history of ``topic``."""
        return self.address_history_size if is_tracked_topic(topic) else self.history_size

    def ttl_s(self, topic: str) -> int:
        """Seconds after the last event before the topic's keys expire; 0 means never."""
        return self.address_ttl_s if is_tracked_topic(topic) else 0
