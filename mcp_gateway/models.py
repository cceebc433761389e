"""The structured results of the gateway's tools: their shapes and output schemas.

Results are built as plain dicts by one function per tool (``tools/common.py``: :func:`pull` and
:func:`wait` for every stream tool; ``alert.py``, ``health.py``); these models only describe them, and
:func:`output_schema` turns each into the compact schema the tool list carries. Each topic's data is
described once, by its **view** (:mod:`mcp_gateway.views`): objects are open, so a full payload
(``full=true``, every field as on the bus) matches the same schema. Names carry units (``_sats``,
``_vb``, ``_unix_s``, ``fee_rate`` in sat/vB), so descriptions stay short.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from mcp_gateway.availability import Status
from mcp_gateway.schemas import compact
from shared.models import FEE_BAND_FLOORS

FEE_RANGE_DOC = "Fee rates min, p10, p25, p50, p75, p90, max."


class _Data(BaseModel):
    gap: dict[str, Any] | None = None


class PoolView(BaseModel):
    name: str


class BlockView(_Data):
    height: int
    hash: str
    timestamp_unix_s: int
    tx_count: int
    size_bytes: int
    median_fee_rate: float | None = None
    fee_range: list[float] | None = Field(default=None, description=FEE_RANGE_DOC)
    total_fees_sats: int | None = None
    pool: PoolView | None = None


class ProjectedBlockView(BaseModel):
    vsize_vb: float
    tx_count: int
    median_fee_rate: float
    fee_range: list[float] | None = Field(default=None, description=FEE_RANGE_DOC + " In the view: next block only.")


class MempoolBlocksView(_Data):
    next_block_median_fee_rate: float | None = None
    total_vsize_vb: float
    blocks: list[ProjectedBlockView]


class MempoolView(BaseModel):
    tx_count: int
    vsize_vb: int
    total_fee_btc: float | None = None
    min_fee_rate: float | None = None


class FeesView(BaseModel):
    """For next block, ~3 blocks, ~6 blocks, low priority; lowest relayed."""

    fastest: float
    half_hour: float
    hour: float
    economy: float
    minimum: float


class DifficultyView(BaseModel):
    progress_percent: float
    difficulty_change_percent: float
    remaining_blocks: int
    estimated_retarget_unix_ms: int | None = None


class StatsView(_Data):
    mempool: MempoolView | None = None
    vbytes_per_second: float | None = None
    fees: FeesView | None = None
    difficulty_adjustment: DifficultyView | None = None


class ChartPointView(_Data):
    added_unix_s: int
    tx_count: int
    vbytes_per_second: float
    min_fee_rate: float | None = None
    vsize_by_fee_band: list[int] = Field(
        description=f"vB per fee band; bands start at {', '.join(map(str, FEE_BAND_FLOORS))} sat/vB."
    )


class AddressTxView(BaseModel):
    txid: str
    net_sats: int = Field(description="Received minus sent by the address.")
    fee_rate: float | None = None
    block_height: int | None = None


class AddressView(_Data):
    address: str
    mempool: list[AddressTxView]
    confirmed: list[AddressTxView]
    removed: list[AddressTxView]


class TxPositionView(BaseModel):
    block_index: int = Field(description="0: the next block.")
    vsize_ahead_vb: int
    effective_fee_rate: float | None = None


class TxView(_Data):
    txid: str
    status: str = Field(description="mempool, confirmed, replaced or removed.")
    position: TxPositionView | None = None
    block_height: int | None = None
    block_hash: str | None = None
    confirmations: int | None = None
    replaced_by: str | None = None
    accelerated: bool | None = None


DataT = TypeVar("DataT", bound=_Data)


class EventItem(BaseModel, Generic[DataT]):
    """full=true: the envelope as published, every field."""

    id: str
    ts_ms: int
    data: DataT


class Freshness(BaseModel):
    status: Status
    reasons: list[str]


class StreamResult(BaseModel, Generic[DataT]):
    """Events of one topic and the cursor to continue from."""

    network: str
    topic: str
    events: list[EventItem[DataT]]
    cursor: str
    gap: bool = Field(description="Events were missed; data.gap {reason, from_ts_ms, to_ts_ms} marks where.")
    timed_out: bool
    freshness: Freshness


class TxStreamResult(StreamResult[TxView]):
    """Changes of the transactions and the cursor."""

    not_seen: list[str] | None = Field(default=None, description="Txids with no status yet.")


class TopicAge(BaseModel):
    topic: str
    latest_id: str | None = None
    age_s: float | None = None


class HealthReport(BaseModel):
    status: Status
    reasons: list[str]
    network: str
    bus: str = Field(description="Redis: ok, unreachable, out_of_memory, read_only, ...")
    bus_kind: str
    upstream_connected: bool
    last_upstream_frame_age_s: float | None = None
    topics: list[TopicAge]
    tracked_addresses: int | None = None
    address_capacity: int | None = None
    tracked_txs: int | None = None
    tx_capacity: int | None = None
    active_streams: int
    version: str


class AlertResult(BaseModel):
    triggered: bool = Field(description="The condition held, at once or later.")
    already_true: bool = Field(description="It held when the call started.")
    metric: str
    condition: str
    value: float | None = Field(default=None, description="Latest value seen.")
    observed_at_ms: int | None = None
    event_id: str | None = None
    waited_s: float
    cursor: str
    freshness: Freshness


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The compact output schema of a result model.

    A stream result's data requires nothing (it may be a gap notice, and a payload leaves out what it does
    not know): its fields are typed, not required; its ``gap`` is described once, by the result's ``gap``.
    Below the top, an object is known by its properties and an ``enum`` of strings by its values, and
    freshness reasons are plain sentences. (Output schemas only validate results, and every host pays for
    their bytes; input schemas keep every ``type`` for hosts that translate them into a provider's dialect.)
    """
    schema = compact(model.model_json_schema())
    properties = schema["properties"]
    if "events" in properties:
        data = properties["events"]["items"]["properties"]["data"]
        _drop_required(data)
        data["properties"].pop("gap", None)
    if "freshness" in properties:
        properties["freshness"]["properties"]["reasons"].pop("items", None)
    for child in properties.values():
        _drop_implied_types(child)
    return schema


def _drop_required(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for child in node.values():
            _drop_required(child)
    elif isinstance(node, list):
        for child in node:
            _drop_required(child)


def _drop_implied_types(node: Any) -> None:
    if isinstance(node, dict):
        options = node.get("enum")
        strings = isinstance(options, list) and all(isinstance(option, str) for option in options)
        if (node.get("type") == "object" and "properties" in node) or (node.get("type") == "string" and strings):
            del node["type"]
        for child in node.values():
            _drop_implied_types(child)
    elif isinstance(node, list):
        for child in node:
            _drop_implied_types(child)
