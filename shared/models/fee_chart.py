"""Topic ``live-2h-chart``: one point of the 2-hour mempool fee histogram chart."""

from __future__ import annotations

from pydantic import Field

from shared.models._base import Payload

FEE_BAND_FLOORS: tuple[int, ...] = (
    0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 175, 200, 250,
    300, 350, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000,
)  # fmt: skip
"""Lower bound of each fee band, sat/vB; band i covers [floor[i], floor[i+1]), the last is >= 2000."""


class FeeChartPoint(Payload):
    """Mempool composition at one moment: virtual size per fee band."""

    added_unix_s: int = Field(description="When the point was taken, Unix seconds.")
    tx_count: int = Field(description="Mempool transactions with a non-zero fee rate.")
    vbytes_per_second: float = Field(description="Mempool inflow, vbytes per second.")
    total_fee_sats: int | None = Field(default=None, description="Sum of mempool fees, satoshis.")
    mempool_byte_weight: int | None = Field(default=None, description="4 x sum of virtual sizes, weight units.")
    min_fee_rate: float | None = Field(default=None, description="Mempool minimum fee rate, sat/vB.")
    vsize_by_fee_band: list[int] = Field(
        description="Virtual size per fee band, vbytes; band lower bounds are fee_band_floors."
    )
    fee_band_floors: list[int] = Field(
        default_factory=lambda: list(FEE_BAND_FLOORS),
        description="Lower bound of each band in vsize_by_fee_band, sat/vB.",
    )
