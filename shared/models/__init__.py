"""Normalized payloads, one model per topic; every field documented with its unit.

Fee rates are floats in sat/vB (the upstream sends sub-sat values), amounts are integers in satoshis
unless the name says BTC, times are Unix seconds (``_unix_s``) or milliseconds (``_ms``).
"""

from shared.models.address import AddressActivity, AddressTransaction
from shared.models.blocks import Block, MiningPool
from shared.models.fee_chart import FEE_BAND_FLOORS, FeeChartPoint
from shared.models.gap import GapInfo, GapNotice
from shared.models.mempool_blocks import MempoolBlocks, ProjectedBlock
from shared.models.stats import DifficultyAdjustment, MempoolInfo, RecommendedFees, Stats
from shared.models.status import IngestorStatus
from shared.models.tx import TxPosition, TxState, TxStatus

__all__ = [
    "FEE_BAND_FLOORS",
    "AddressActivity",
    "AddressTransaction",
    "Block",
    "DifficultyAdjustment",
    "FeeChartPoint",
    "GapInfo",
    "GapNotice",
    "IngestorStatus",
    "MempoolBlocks",
    "MempoolInfo",
    "MiningPool",
    "ProjectedBlock",
    "RecommendedFees",
    "Stats",
    "TxPosition",
    "TxState",
    "TxStatus",
]
