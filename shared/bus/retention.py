"""How much history each topic keeps, and for how long."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import is_address_topic


@dataclass(frozen=True, slots=True)
class Retention:
    """History bounds: stream topics keep ``history_size`` events; address topics fewer, and expire."""

    history_size: int = 1000
    address_history_size: int = 200
    address_ttl_s: int = 86_400

    def max_len(self, topic: str) -> int:
        """Events kept in the history of ``topic``."""
        return self.address_history_size if is_address_topic(topic) else self.history_size

    def ttl_s(self, topic: str) -> int:
        """Seconds after the last event before the topic's keys expire; 0 means never."""
        return self.address_ttl_s if is_address_topic(topic) else 0
