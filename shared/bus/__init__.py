"""The event bus: one interface (:mod:`shared.bus.base`), a Redis and an embedded backend, local fan-out."""

from shared.bus.base import Backend, Bus, BusMessage, Coordinator, Delivery, HistoryPage, Resync
from shared.bus.factory import create_backend
from shared.bus.hub import Hub, Subscriber
from shared.bus.memory import MemoryBackend
from shared.bus.retention import Retention

__all__ = [
    "Backend",
    "Bus",
    "BusMessage",
    "Coordinator",
    "Delivery",
    "HistoryPage",
    "Hub",
    "MemoryBackend",
    "Resync",
    "Retention",
    "Subscriber",
    "create_backend",
]
