"""The ingestor's publish path without I/O: block ordering, gap planning, overflow accounting, flow control.

:class:`PublishCore` owns the rules; :mod:`ingestor.publisher` (Redis, REST) and :mod:`ingestor.pipeline`
(the upstream sockets) only feed it inputs and carry out its outputs.
"""

from ingestor.core.blocks import BlockPlan, BlockTracker
from ingestor.core.machine import MAX_BATCH, PublishCore
from ingestor.core.txs import RestTxStatus, TxFacts, TxWatch
from ingestor.core.work import (
    Batch,
    Dropped,
    DropReason,
    Fetch,
    FetchBlocks,
    FetchChart,
    GapMark,
    Note,
    Paused,
    Reason,
    Resumed,
    Work,
    gap_publication,
)

__all__ = [
    "MAX_BATCH",
    "Batch",
    "BlockPlan",
    "BlockTracker",
    "DropReason",
    "Dropped",
    "Fetch",
    "FetchBlocks",
    "FetchChart",
    "GapMark",
    "Note",
    "Paused",
    "PublishCore",
    "Reason",
    "RestTxStatus",
    "Resumed",
    "TxFacts",
    "TxWatch",
    "Work",
    "gap_publication",
]
