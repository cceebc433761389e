"""The I/O-free frame normalizer: upstream mempool WebSocket frames to topic events.

>>> normalizer = Normalizer("mainnet")
>>> frame = normalizer.normalize('{"pong": true}', received_ms=0)
>>> frame.control.pong
True
"""

from ingestor.normalize.frame import Normalizer
from ingestor.normalize.results import ControlReplies, NormalizedFrame

__all__ = ["ControlReplies", "NormalizedFrame", "Normalizer"]
