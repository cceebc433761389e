"""A mempool.space-compatible upstream (``mempool-ws sim``) for offline demos, development and tests.

It serves the mempool WebSocket protocol at ``ws://HOST:PORT/api/v1/ws`` (also under a
``/{network}`` prefix) and the REST snapshots a reconnecting client needs, on the same port, with a
seeded chain and mempool that evolve over time.
"""

from simulator.server import Simulator, run
from simulator.stats import ConnectionStats, SimStats

__all__ = ["ConnectionStats", "SimStats", "Simulator", "run"]
