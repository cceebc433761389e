"""Transaction tracking of one connection, following the backend's ``websocket-handler.ts``.

* ``track-tx``: one txid per connection (anything that is not 64 hex clears it). The reply has
  ``txPosition`` while the transaction is in the mempool; with ``"watch-mempool": true`` also ``tx``
  (the full transaction), or ``txReplaced`` (and tracking stops) when it was replaced, or, for an
  unknown txid, ``tx`` later once it enters the mempool. Mempool changes bring ``utxoSpent``,
  ``rbfTransaction``, ``rbfInfo`` and ``txPosition`` (with ``cpfp`` when the effective rate changed);
  a block brings ``txConfirmed`` (the txid alone) or a new ``txPosition``.
* ``track-txs``: up to :data:`MAX_TRACKED_TXS` txids, counted before validation. More, or a value
  that is not an array, gets ``track-txs-error`` and the socket closes. Replies are ``tracked-txs``
  objects keyed by txid, with only the transactions that have something to report.

Lookups are by the exact string sent, like the backend's maps: an upper-case txid never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from simulator import jsjson
from simulator.events import TxView

MAX_TRACKED_TXS = 100
"""Most txids one ``track-txs`` list may hold (the backend's hard-coded ``MAX_TRACKED_TXS``)."""
TRACK_TXS_FORMAT_ERROR = "incorrect track-txs format"
_TXID = re.compile(r"[a-fA-F0-9]{64}")
_ACCELERATION_KEYS = ("accelerated", "acceleratedBy", "acceleratedAt", "feeDelta")

Pairs = list[tuple[str, str]]


def track_txs_limit_error(limit: int = MAX_TRACKED_TXS) -> str:
    """The backend's ``track-txs-error`` text for a list that is too long."""
    return f"too many txids requested, this connection supports tracking a maximum of {limit} transactions"


def is_txid(value: object) -> bool:
    """Whether ``value`` passes the backend's txid test (64 hex digits, either case)."""
    return isinstance(value, str) and _TXID.fullmatch(value) is not None


class TxLookup(Protocol):
    """Where the followed transactions are read from."""

    def followed(self, txid: str) -> TxView | None:
        """The current view of ``txid``, or ``None`` when it is not a known transaction."""


def _truthy(value: Any) -> bool:
    return value is not None and value is not False and value not in (0, "")


def _acceleration(view: TxView) -> dict[str, Any]:
    found = view.acceleration or {}
    return {key: found[key] for key in _ACCELERATION_KEYS if found.get(key)}


@dataclass
class TxSubscriptions:
    """``track-tx``, ``track-txs`` and the pending ``watch-mempool`` txid of one connection."""

    track_tx: str | None = None
    track_txs: list[str] | None = None
    watching: str | None = None

    def on_track_tx(self, message: Mapping[str, Any], lookup: TxLookup, response: dict[str, str]) -> None:
        """Handle a message's ``track-tx`` (and ``watch-mempool``) keys."""
        value = message.get("track-tx")
        if not _truthy(value):
            return
        if not is_txid(value):
            self.track_tx = None
            return
        self.track_tx = txid = str(value)
        view = lookup.followed(txid)
        if _truthy(message.get("watch-mempool")):
            if view is not None and view.state == "replaced":
                response["txReplaced"] = jsjson.dumps({"txid": view.replaced_by})
                self.track_tx = None
            elif view is not None and view.state in ("mempool", "confirmed"):
                response["tx"] = jsjson.dumps(view.tx)
            else:
                self.watching = txid
        if view is not None and view.position is not None:
            position = dict(view.position)
            if view.acceleration:
                position["accelerated"] = True
            response["txPosition"] = jsjson.dumps(_position_data(view, position))

    def on_track_txs(self, message: Mapping[str, Any], lookup: TxLookup, response: dict[str, str]) -> str | None:
        """Handle a message's ``track-txs``; return the error text when the socket must close."""
        value = message.get("track-txs")
        if not _truthy(value):
            return None
        if not isinstance(value, list):
            return TRACK_TXS_FORMAT_ERROR
        if len(value) > MAX_TRACKED_TXS:
            return track_txs_limit_error()
        txids = [str(txid) for txid in value if is_txid(txid)]
        tracked: dict[str, dict[str, Any]] = {}
        for txid in txids:
            view = lookup.followed(txid)
            if view is not None and view.state == "replaced":
                tracked[txid] = {"replacedBy": view.replaced_by, "confirmed": False}
            elif view is not None and view.state == "mempool":
                tracked[txid] = _initial_info(view)
        self.track_txs = txids or None
        if tracked:
            response["tracked-txs"] = jsjson.dumps(tracked)
        return None

    def watch_pairs(self, txs: Mapping[str, TxView]) -> Pairs:
        """``tx`` once the watched txid has entered the mempool (in a mempool change)."""
        view = txs.get(self.watching) if self.watching else None
        if view is None or not view.entered_now:
            return []
        self.watching = None
        return [("tx", jsjson.dumps(view.tx))]

    def mempool_pairs(self, txs: Mapping[str, TxView]) -> Pairs:
        """What a mempool change reports to this connection's tracked transactions, in backend order."""
        pairs: Pairs = []
        view = txs.get(self.track_tx) if self.track_tx else None
        if view is not None:
            if view.spent:
                pairs.append(("utxoSpent", jsjson.dumps(view.spent)))
            if view.replaced_now:
                pairs.append(("rbfTransaction", jsjson.dumps({"txid": view.replaced_by})))
                if view.rbf_info:
                    pairs.append(("rbfInfo", jsjson.dumps(view.rbf_info)))
            if view.position is not None:
                data = _position_data(view, {**view.position, **_acceleration(view)})
                if view.cpfp:
                    data["cpfp"] = {**view.cpfp, "acceleration": True} if view.acceleration else dict(view.cpfp)
                pairs.append(("txPosition", jsjson.dumps(data)))
        tracked: dict[str, dict[str, Any]] = {}
        for txid in self.track_txs or ():
            found = txs.get(txid)
            if found is not None and (info := _change_info(found)):
                tracked[txid] = info
        if tracked:
            pairs.append(("tracked-txs", jsjson.dumps(tracked)))
        return pairs

    def block_pairs(self, txs: Mapping[str, TxView]) -> Pairs:
        """What a new block reports to this connection's tracked transactions, in backend order."""
        pairs: Pairs = []
        view = txs.get(self.track_tx) if self.track_tx else None
        if view is not None and view.confirmed_now:
            pairs.append(("txConfirmed", jsjson.dumps(view.txid)))
        elif view is not None and view.position is not None:
            data = _position_data(view, {**view.position, **_acceleration(view)})
            pairs.append(("txPosition", jsjson.dumps(data)))
        tracked: dict[str, dict[str, Any]] = {}
        for txid in self.track_txs or ():
            found = txs.get(txid)
            if found is not None and found.confirmed_now:
                tracked[txid] = {"confirmed": True}
            elif found is not None and found.position is not None:
                tracked[txid] = {"position": dict(found.position), **_acceleration(found)}
        if tracked:
            pairs.append(("tracked-txs", jsjson.dumps(tracked)))
        return pairs


def _position_data(view: TxView, position: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"txid": view.txid, "position": position}
    if view.acceleration_positions:
        data["accelerationPositions"] = [dict(entry) for entry in view.acceleration_positions]
    return data


def _initial_info(view: TxView) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if view.position is not None:
        info["position"] = dict(view.position)
        if view.acceleration:
            info["accelerated"] = True
    info["confirmed"] = False
    return info


def _change_info(view: TxView) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if view.spent:
        info["utxoSpent"] = dict(view.spent)
    if view.replaced_now:
        info["replacedBy"] = view.replaced_by
    if view.position is not None:
        info["position"] = {**view.position, **_acceleration(view)}
        if view.cpfp:
            info["cpfp"] = dict(view.cpfp)
    return info
