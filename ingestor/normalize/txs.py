"""Transaction-tracking keys: ``txPosition``, ``txConfirmed``, ``txReplaced``/``rbfTransaction`` and
``tracked-txs``, read into one :class:`TxStatus` per txid and frame.

Shapes (the backend's ``websocket-handler.ts``):

* ``txPosition``: ``{txid, position: {block, vsize, accelerated?, ...}, accelerationPositions?, cpfp?}``;
* ``txConfirmed``: the txid alone, in the frame of the confirming ``block``;
* ``txReplaced`` / ``rbfTransaction``: ``{txid}`` of the *replacing* transaction; the replaced one is the
  socket's ``track-tx`` txid, which the caller passes in;
* ``tracked-txs``: ``{txid: {position?, accelerated?, cpfp?, replacedBy?, confirmed?, utxoSpent?}}``;
  ``accelerated`` sits inside ``position`` on mempool updates and beside it otherwise.

``cpfp.effectiveFeePerVsize`` arrives only when the effective rate changes, and ``accelerated`` only
while in the mempool, so :class:`TxMemory` keeps both per txid for the events that follow.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Final, TypeVar

from ingestor.normalize._coerce import (
    JsonObject,
    Malformed,
    opt_bool,
    opt_float,
    opt_object,
    req_float,
    req_int,
    to_object,
    to_str,
)
from shared.models import Block, TxPosition, TxState, TxStatus

TX_KEYS: Final = ("txPosition", "txConfirmed", "txReplaced", "rbfTransaction", "tracked-txs")
REPLACED_KEYS: Final = ("txReplaced", "rbfTransaction")
MEMORY_SIZE: Final = 10_000
"""Transactions whose last effective fee rate and acceleration are remembered."""
_TXID: Final = re.compile(r"[0-9a-fA-F]{64}")
_RANK: Final[dict[TxState, int]] = {"mempool": 1, "removed": 2, "replaced": 3, "confirmed": 4}
_T = TypeVar("_T")
_KEY_SHOWN: Final = 70


def read_txid(value: object, path: str = "") -> str:
    """A txid (64 hex digits, either case) in lower case."""
    text = to_str(value, path)
    if _TXID.fullmatch(text) is None:
        raise Malformed(f"expected a txid (64 hex digits), got {len(text)} characters", path)
    return text.lower()


def tracked_txid(value: str | None) -> str | None:
    """The caller's ``track-tx`` txid in lower case, or None when it is not a txid."""
    return value.lower() if value is not None and _TXID.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class Observation:
    """What one part of a frame says about one transaction."""

    status: TxState
    block_index: int | None = None
    vsize_ahead_vb: float | None = None
    effective_fee_rate: float | None = None
    accelerated: bool | None = None
    replaced_by: str | None = None

    def merged(self, newer: Observation) -> Observation:
        """This and a newer observation of the same frame: the later status wins, fields add up."""
        if _RANK[newer.status] < _RANK[self.status]:
            return self
        if _RANK[newer.status] > _RANK[self.status]:
            return replace(newer, accelerated=newer.accelerated or self.accelerated)
        return Observation(
            self.status,
            _pick(newer.block_index, self.block_index),
            _pick(newer.vsize_ahead_vb, self.vsize_ahead_vb),
            _pick(newer.effective_fee_rate, self.effective_fee_rate),
            _pick(newer.accelerated, self.accelerated),
            _pick(newer.replaced_by, self.replaced_by),
        )


def _pick(newer: _T | None, older: _T | None) -> _T | None:
    return older if newer is None else newer


class TxMemory:
    """The last effective fee rate and acceleration seen per txid (bounded, least recent dropped)."""

    def __init__(self, size: int = MEMORY_SIZE) -> None:
        self._size = size
        self._known: OrderedDict[str, tuple[float | None, bool]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def resolve(self, txid: str, seen: Observation) -> tuple[float | None, bool]:
        """The effective rate and acceleration to report, learning from ``seen``; forget finished txids."""
        rate, accelerated = self._known.pop(txid, (None, False))
        rate = _pick(seen.effective_fee_rate, rate)
        accelerated = accelerated if seen.accelerated is None else seen.accelerated
        if seen.status == "mempool":
            self._known[txid] = (rate, accelerated)
            while len(self._known) > self._size:
                self._known.popitem(last=False)
        return rate, accelerated


class TxCollector:
    """The observations of one frame, merged per txid, in the order the txids were first seen."""

    def __init__(self) -> None:
        self._seen: dict[str, Observation] = {}

    def add(self, txid: str, observation: Observation) -> None:
        """Merge ``observation`` into what the frame already said about ``txid``."""
        known = self._seen.get(txid)
        self._seen[txid] = observation if known is None else known.merged(observation)

    def statuses(self, block: Block | None, memory: TxMemory) -> list[TxStatus]:
        """One status per txid; a confirmation takes height, hash and time from the frame's ``block``."""
        return [_status(txid, seen, block, memory) for txid, seen in self._seen.items()]


def _status(txid: str, seen: Observation, block: Block | None, memory: TxMemory) -> TxStatus:
    rate, accelerated = memory.resolve(txid, seen)
    position = None
    if seen.status == "mempool" and seen.block_index is not None and seen.vsize_ahead_vb is not None:
        position = TxPosition(block_index=seen.block_index, vsize_ahead_vb=seen.vsize_ahead_vb, effective_fee_rate=rate)
    mined = block if seen.status == "confirmed" else None
    return TxStatus(
        txid=txid,
        status=seen.status,
        position=position,
        block_height=mined.height if mined else None,
        block_hash=mined.hash if mined else None,
        block_time_unix_s=mined.timestamp_unix_s if mined else None,
        confirmations=1 if mined else None,
        replaced_by=seen.replaced_by,
        accelerated=accelerated,
    )


def _non_negative(value: float, path: str) -> None:
    if value < 0:
        raise Malformed(f"expected a non-negative number, got {value!r}", path)


def _in_mempool(position: JsonObject | None, info: JsonObject) -> Observation:
    """A mempool observation from a ``position`` object and its surroundings (``cpfp``, ``accelerated``).

    Beside a position, a missing ``accelerated`` means false (the backend drops false values); without
    one it means unknown.
    """
    block_index = vsize = None
    accelerated = opt_bool(info, "accelerated")
    if position is not None:
        try:
            block_index, vsize = req_int(position, "block"), req_float(position, "vsize")
            _non_negative(block_index, "block")
            _non_negative(vsize, "vsize")
            accelerated = bool(opt_bool(position, "accelerated") or accelerated)
        except Malformed as exc:
            raise exc.within("position") from None
    rate = None
    cpfp = opt_object(info, "cpfp")
    if cpfp is not None:
        try:
            rate = opt_float(cpfp, "effectiveFeePerVsize")
            if rate is not None:
                _non_negative(rate, "effectiveFeePerVsize")
        except Malformed as exc:
            raise exc.within("cpfp") from None
    return Observation("mempool", block_index, vsize, rate, accelerated)


def read_position(value: object, collector: TxCollector) -> None:
    """Read ``txPosition``. Raises :class:`Malformed`."""
    obj = to_object(value)
    txid = read_txid(obj.get("txid"), "txid")
    position = opt_object(obj, "position")
    if position is None:
        raise Malformed("expected an object, got nothing", "position")
    collector.add(txid, _in_mempool(position, obj))


def read_confirmed(value: object, collector: TxCollector) -> None:
    """Read ``txConfirmed`` (the confirmed txid). Raises :class:`Malformed`."""
    collector.add(read_txid(value), Observation("confirmed"))


def read_replaced(value: object, tracked: str | None, collector: TxCollector) -> None:
    """Read ``txReplaced``/``rbfTransaction``: ``{txid}`` replaces the ``track-tx`` txid ``tracked``."""
    replacing = read_txid(to_object(value).get("txid"), "txid")
    if tracked is None:
        raise Malformed("names no tracked transaction (no track-tx txid given)")
    collector.add(tracked, Observation("replaced", replaced_by=replacing))


def read_tracked(value: object, collector: TxCollector) -> list[Malformed]:
    """Read ``tracked-txs``; return one error per skipped entry. Raises :class:`Malformed` for a non-object."""
    errors: list[Malformed] = []
    for key, entry in to_object(value).items():
        try:
            txid = read_txid(key)
            observation = _tracked_entry(to_object(entry))
        except Malformed as exc:
            errors.append(exc.within(key if len(key) <= _KEY_SHOWN else key[:_KEY_SHOWN] + "..."))
            continue
        if observation is not None:
            collector.add(txid, observation)
    return errors


def _tracked_entry(info: JsonObject) -> Observation | None:
    if opt_bool(info, "confirmed") is True:
        return Observation("confirmed")
    replaced_by = info.get("replacedBy")
    if replaced_by is not None:
        return Observation("replaced", replaced_by=read_txid(replaced_by, "replacedBy"))
    position = opt_object(info, "position")
    if position is not None or info.get("confirmed") is False:
        return _in_mempool(position, info)
    return None
