"""What a model reads of each topic: a compact view of every event, rounded numbers, a one-line summary.

A **view** is a projection of the topic's payload: the same field names, units and meaning as on the bus,
fewer fields (what an agent decides on), and numbers rounded to what matters. So a full payload
(``full=true``) still matches the view's output schema, and nothing has two names. Gap notices pass
through as published. No result carries null: an unknown value is left out (also with ``full=true``).
Progress notifications and the Redis bus keep the full events.

Rounding (one helper per unit, used for every number a result shows): fee rates in sat/vB to 0.01, or
0.001 below 1 (:func:`fee_rate`); BTC to 8 decimals (:func:`btc`); MB to 0.1 (:func:`mb`); percent to 0.01
(:func:`percent`); vbytes and vB/s to whole numbers (:func:`vbytes`); seconds to 0.1 (:func:`seconds`).
Sats, heights, counts and times are integers already.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.events import (
    TOPIC_BLOCKS,
    TOPIC_LIVE_2H,
    TOPIC_MEMPOOL_BLOCKS,
    TOPIC_STATS,
    Event,
    is_address_topic,
    is_tx_topic,
)
from shared.jsoncodec import loads

Data = dict[str, Any]


def fee_rate(value: float) -> float:
    """A fee rate in sat/vB: to 0.01, or to 0.001 below 1 (sub-sat rates matter there)."""
    return round(value, 3 if abs(value) < 1 else 2)


def btc(value: float) -> float:
    """An amount in BTC, to the satoshi (8 decimals)."""
    return round(value, 8)


def mb(value: float) -> float:
    """A size in MB (1,000,000 bytes or vbytes), to 0.1."""
    return round(value, 1)


def percent(value: float) -> float:
    """A percentage, to 0.01."""
    return round(value, 2)


def vbytes(value: float) -> int:
    """Virtual bytes (or vB/s), whole."""
    return round(value)


def seconds(value: float) -> float:
    """A duration in seconds, to 0.1."""
    return round(value, 1)


def number_text(value: float, *, grouped: bool = True) -> str:
    """A number as a person writes it: no exponent, no trailing zeros, thousands separated (1,000,000)
    unless not ``grouped`` (1000000, as a parameter is written)."""
    group = "," if grouped else ""
    if float(value).is_integer():
        return f"{int(value):{group}}"
    return f"{value:{group}.8f}".rstrip("0").rstrip(".")


def _pick(data: Data, keys: tuple[str, ...], rounding: dict[str, Callable[[Any], Any]] | None = None) -> Data:
    """The ``keys`` of ``data`` that are present and not null, rounded by ``rounding`` where named."""
    rounding = rounding or {}
    picked: Data = {}
    for key in keys:
        value = data.get(key)
        if value is None:
            continue
        round_it = rounding.get(key)
        picked[key] = round_it(value) if round_it is not None else value
    return picked


def _fee_rates(values: list[float]) -> list[float]:
    return [fee_rate(value) for value in values]


def block_view(data: Data) -> Data:
    """A new block: height, hash, time, size, fee levels, total fees and the pool's name."""
    view = _pick(
        data,
        ("height", "hash", "timestamp_unix_s", "tx_count", "size_bytes", "median_fee_rate", "fee_range",
         "total_fees_sats"),
        {"median_fee_rate": fee_rate, "fee_range": _fee_rates},
    )  # fmt: skip
    pool = data.get("pool")
    if isinstance(pool, dict) and pool.get("name"):
        view["pool"] = {"name": pool["name"]}
    return view


def mempool_blocks_view(data: Data) -> Data:
    """Projected blocks: the next block's fee levels, then size, count and median fee of each block."""
    blocks = []
    for index, block in enumerate(data.get("blocks") or []):
        keys = ("vsize_vb", "tx_count", "median_fee_rate") + (("fee_range",) if index == 0 else ())
        blocks.append(_pick(block, keys, {"vsize_vb": vbytes, "median_fee_rate": fee_rate, "fee_range": _fee_rates}))
    view = _pick(
        data,
        ("next_block_median_fee_rate", "total_vsize_vb"),
        {"next_block_median_fee_rate": fee_rate, "total_vsize_vb": vbytes},
    )
    view["blocks"] = blocks
    return view


def stats_view(data: Data) -> Data:
    """Mempool size, inflow, recommended fees and the difficulty epoch's progress."""
    view: Data = {}
    if isinstance(mempool := data.get("mempool"), dict):
        view["mempool"] = _pick(
            mempool,
            ("tx_count", "vsize_vb", "total_fee_btc", "min_fee_rate"),
            {"total_fee_btc": btc, "min_fee_rate": fee_rate},
        )
    if data.get("vbytes_per_second") is not None:
        view["vbytes_per_second"] = vbytes(data["vbytes_per_second"])
    if isinstance(fees := data.get("fees"), dict):
        view["fees"] = {key: fee_rate(value) for key, value in fees.items() if isinstance(value, int | float)}
    if isinstance(epoch := data.get("difficulty_adjustment"), dict):
        view["difficulty_adjustment"] = _pick(
            epoch,
            ("progress_percent", "difficulty_change_percent", "remaining_blocks", "estimated_retarget_unix_ms"),
            {"progress_percent": percent, "difficulty_change_percent": percent},
        )
    return view


def chart_point_view(data: Data) -> Data:
    """A 2-hour chart point: counts, inflow, minimum fee and vsize per fee band (floors in the schema)."""
    return _pick(
        data,
        ("added_unix_s", "tx_count", "vbytes_per_second", "min_fee_rate", "vsize_by_fee_band"),
        {"vbytes_per_second": vbytes, "min_fee_rate": fee_rate},
    )


def _address_tx(tx: Data) -> Data:
    return _pick(tx, ("txid", "net_sats", "fee_rate", "block_height"), {"fee_rate": fee_rate})


def address_view(data: Data) -> Data:
    """An address update: each transaction's id, net sats for the address, fee rate and confirming height."""
    view: Data = {"address": data.get("address")}
    for part in ("mempool", "confirmed", "removed"):
        view[part] = [_address_tx(tx) for tx in data.get(part) or [] if isinstance(tx, dict)]
    return view


def tx_view(data: Data) -> Data:
    """A transaction's change: its status, where it waits (projected block, vsize ahead, effective fee
    rate), its confirmation, its replacement, and acceleration when there is one."""
    view = _pick(data, ("txid", "status", "block_height", "block_hash", "confirmations", "replaced_by"), {})
    if isinstance(position := data.get("position"), dict):
        view["position"] = _pick(
            position,
            ("block_index", "vsize_ahead_vb", "effective_fee_rate"),
            {"vsize_ahead_vb": vbytes, "effective_fee_rate": fee_rate},
        )
    if data.get("accelerated"):
        view["accelerated"] = True
    return view


def _mb_of(vsize_vb: float) -> str:
    return f"{mb(vsize_vb / 1_000_000):g} MB"


def _block_phrase(view: Data) -> str:
    parts = [f"block {view.get('height')}"]
    if "tx_count" in view:
        parts.append(f"{number_text(view['tx_count'])} tx")
    if "median_fee_rate" in view:
        parts.append(f"median {number_text(view['median_fee_rate'])} sat/vB")
    if "pool" in view:
        parts.append(str(view["pool"]["name"]))
    return ", ".join(parts)


def _mempool_blocks_phrase(view: Data) -> str:
    blocks = view.get("blocks") or []
    if not blocks:
        return "the mempool is empty"
    parts = [
        f"next block median {number_text(view.get('next_block_median_fee_rate', blocks[0]['median_fee_rate']))} sat/vB"
    ]
    if blocks[0].get("fee_range"):
        parts[0] += f" (lowest {number_text(blocks[0]['fee_range'][0])})"
    parts.append(f"{len(blocks)} projected blocks")
    if "total_vsize_vb" in view:
        parts.append(f"{_mb_of(view['total_vsize_vb'])} waiting")
    return ", ".join(parts)


def _stats_phrase(view: Data) -> str:
    parts = []
    if fees := view.get("fees"):
        levels = ("fastest", "half_hour", "hour", "economy", "minimum")
        shown = " / ".join(f"{level.replace('_', '-')} {number_text(fees[level])}" for level in levels if level in fees)
        parts.append(f"fees {shown} sat/vB")
    if mempool := view.get("mempool"):
        parts.append(f"mempool {_mb_of(mempool.get('vsize_vb', 0))}, {number_text(mempool.get('tx_count', 0))} tx")
    if "vbytes_per_second" in view:
        parts.append(f"{number_text(view['vbytes_per_second'])} vB/s in")
    return ", ".join(parts) or "no figures yet"


def _chart_phrase(view: Data) -> str:
    parts = [f"{number_text(view.get('tx_count', 0))} tx"]
    if "vbytes_per_second" in view:
        parts.append(f"{number_text(view['vbytes_per_second'])} vB/s in")
    if "min_fee_rate" in view:
        parts.append(f"minimum fee {number_text(view['min_fee_rate'])} sat/vB")
    return ", ".join(parts)


def _address_phrase(view: Data) -> str:
    parts = []
    for part, label in (("mempool", "in mempool"), ("confirmed", "confirmed"), ("removed", "removed")):
        txs = view.get(part) or []
        if txs:
            net = sum(tx.get("net_sats", 0) for tx in txs)
            heights = {tx["block_height"] for tx in txs if "block_height" in tx}
            at = f" at height {', '.join(map(str, sorted(heights)))}" if heights else ""
            parts.append(f"{len(txs)} {label}{at} ({net:+,} sats)")
    return ", ".join(parts) or "no transactions"


def _tx_phrase(view: Data) -> str:
    txid, status = str(view.get("txid", ""))[:12], view.get("status")
    if status == "confirmed":
        depth = view.get("confirmations")
        text = f"{txid}… confirmed at height {view.get('block_height', '?')}" + (
            f" ({depth} confirmation{'s' if depth != 1 else ''})" if depth else ""
        )
    elif status == "replaced":
        text = f"{txid}… replaced by {view.get('replaced_by', '?')}"
    elif status == "removed":
        text = f"{txid}… left the mempool unmined"
    else:
        position = view.get("position") or {}
        text = f"{txid}… in the mempool"
        if "block_index" in position:
            index = position["block_index"]
            text += ", in the next block" if index == 0 else f", projected block {index} (0 is the next)"
            if "vsize_ahead_vb" in position:
                text += f" ({number_text(position['vsize_ahead_vb'])} vB ahead)"
        if "effective_fee_rate" in position:
            text += f", {number_text(position['effective_fee_rate'])} sat/vB"
    return text + (", accelerated" if view.get("accelerated") else "")


@dataclass(frozen=True, slots=True)
class TopicView:
    """How one topic is shown to a model: its view, a phrase for the summary line, and its nouns."""

    project: Callable[[Data], Data]
    phrase: Callable[[Data], str]
    noun: str
    """The word for one event, with its plural after a slash: 'new block/new blocks'."""

    @property
    def plural(self) -> str:
        """The word for several events: 'new blocks'."""
        return self.noun.partition("/")[2]

    def counted(self, count: int) -> str:
        """``count`` events in words: '1 new block', '3 new blocks'."""
        return f"{count} {self.noun.partition('/')[0] if count == 1 else self.plural}"


VIEWS: dict[str, TopicView] = {
    TOPIC_BLOCKS: TopicView(block_view, _block_phrase, "new block/new blocks"),
    TOPIC_MEMPOOL_BLOCKS: TopicView(mempool_blocks_view, _mempool_blocks_phrase, "update/updates"),
    TOPIC_STATS: TopicView(stats_view, _stats_phrase, "update/updates"),
    TOPIC_LIVE_2H: TopicView(chart_point_view, _chart_phrase, "chart point/chart points"),
}
ADDRESS_VIEW = TopicView(address_view, _address_phrase, "update/updates")
TX_VIEW = TopicView(tx_view, _tx_phrase, "change/changes")


def topic_view(topic: str) -> TopicView:
    """The view of ``topic`` (every ``address:*`` topic shares one, every ``tx:*`` topic another)."""
    if is_address_topic(topic):
        return ADDRESS_VIEW
    return TX_VIEW if is_tx_topic(topic) else VIEWS[topic]


def is_gap(data: Data) -> bool:
    """Whether event data is a gap notice (no other payload has a ``gap`` key)."""
    return "gap" in data


def gap_phrase(data: Data) -> str:
    """A gap notice in words."""
    gap = data["gap"]
    heights = ""
    if gap.get("missing_from_height") is not None:
        heights = f", blocks {gap['missing_from_height']} to {gap.get('missing_to_height')}"
    return f"data missed ({gap.get('reason')}{heights})"


@functools.lru_cache(maxsize=1024)
def _view_item(topic: str, raw: str) -> Data:
    envelope = loads(raw)
    data = envelope["data"]
    shown = without_nulls(data) if is_gap(data) else topic_view(topic).project(data)
    return {"id": envelope["id"], "ts_ms": envelope["ts_ms"], "data": shown}


def without_nulls(value: Any) -> Any:
    """``value`` with every null member of its objects left out (results never carry null)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


@functools.lru_cache(maxsize=1024)
def _full_item(raw: str) -> Data:
    envelope: Data = without_nulls(loads(raw))
    return envelope


def event_item(event: Event, *, full: bool) -> Data:
    """How ``event`` appears in a result: ``{id, ts_ms, data}`` with the view of its data, or with ``full``
    the whole envelope as published, its null fields left out. Built once per event and shared by every
    result (never mutate it)."""
    return _full_item(event.raw) if full else _view_item(event.topic, event.raw)


def event_phrase(topic: str, item: Data) -> str:
    """The summary phrase of one result item (its data may be a view, a full payload or a gap notice)."""
    data = item["data"]
    if is_gap(data):
        return gap_phrase(data)
    view = topic_view(topic)
    return view.phrase(view.project(data) if "v" in item else data)
