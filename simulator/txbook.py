"""Followed transactions: the ones a client can name by txid, each with the life the backend reports.

Background transactions are fee-rate bins (:mod:`simulator.mempool`). Payments, their replacements
and CPFP children are followed one by one here, and each is also counted in the bins at its
effective fee rate. From the bins the book derives where a transaction sits in the projected blocks
(block index and vsize, like ``position`` of the backend), which transactions the next block
confirms (those that fit in it, and accelerated ones), and what each event reports about them
(:class:`~simulator.events.TxView`).

A CPFP package is a transaction with its descendants: all members share one effective fee rate (the
package's total fee over its total vsize) and are mined together.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from simulator.events import AddressTx, TxState, TxView
from simulator.mempool import BLOCK_WEIGHT, AheadIndex, Mempool
from simulator.transactions import confirmed, stripped, touched_addresses

ACCELERATING_POOLS = (111, 44, 36, 141)
"""Pool ids (Foundry USA, AntPool, F2Pool, MARA) that mine accelerated transactions."""
MAX_FINISHED = 20_000
"""Confirmed, replaced and removed transactions remembered for REST status and late subscribers."""


@dataclass
class Followed:
    """One followed transaction and its state."""

    tx: dict[str, Any]
    rate: float
    """Effective fee rate (CPFP included), sat/vB; where it is counted in the bins."""
    addresses: frozenset[str]
    state: TxState = "mempool"
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    held: bool = False
    """Waiting for its automatic replacement: never mined."""
    replaced_by: str | None = None
    acceleration: dict[str, Any] | None = None
    block: tuple[int, str, int] | None = None
    """Height, hash and time of the confirming block."""
    cpfp_dirty: bool = False
    spent: dict[str, dict[str, Any]] = field(default_factory=dict)
    rbf_info: dict[str, Any] | None = None
    entered_now: bool = True
    replaced_now: bool = False
    confirmed_now: bool = False

    @property
    def txid(self) -> str:
        """The transaction id."""
        return str(self.tx["txid"])

    @property
    def vsize(self) -> float:
        """Adjusted virtual size (weight / 4), vB."""
        return float(self.tx["weight"]) / 4

    def address_tx(self) -> AddressTx:
        """A copy of the transaction as address tracking sends it."""
        return AddressTx(dict(self.tx), self.addresses)


def _own_rate(tx: dict[str, Any]) -> float:
    return float(tx["fee"]) / (float(tx["weight"]) / 4)


def _relative(item: Followed) -> dict[str, Any]:
    return {"txid": item.txid, "fee": item.tx["fee"], "weight": item.tx["weight"]}


class TxBook:
    """Every followed transaction by txid, kept consistent with the mempool bins."""

    def __init__(self, mempool: Mempool) -> None:
        self._mempool = mempool
        self._txs: dict[str, Followed] = {}
        self._pool: dict[str, Followed] = {}
        """The followed transactions in the mempool."""
        self._left: list[Followed] = []
        """Transactions that left the mempool and still have a replacement or confirmation to report."""
        self._finished: deque[str] = deque()
        self._accelerated: list[str] = []

    def get(self, txid: str) -> Followed | None:
        """The followed transaction ``txid`` (exact, lower-case hex), if known."""
        return self._txs.get(txid)

    def in_mempool(self, txid: str) -> Followed:
        """The followed mempool transaction ``txid``; ``LookupError`` or ``ValueError`` otherwise."""
        item = self._txs.get(txid)
        if item is None:
            raise LookupError(f"unknown transaction: {txid}")
        if item.state != "mempool":
            raise ValueError(f"transaction {txid} is not in the mempool (it is {item.state})")
        return item

    def enter(self, tx: dict[str, Any], *, held: bool = False, parent: str | None = None) -> Followed:
        """Add a transaction to the mempool; a ``parent`` makes it a CPFP child of that transaction."""
        item = Followed(tx, _own_rate(tx), touched_addresses(tx), held=held, parent=parent)
        self._txs[item.txid] = self._pool[item.txid] = item
        self._bin_add(item)
        if parent is not None:
            owner = self._txs[parent]
            owner.children.append(item.txid)
            spent = dict(owner.spent)
            for index, entry in enumerate(tx["vin"]):
                if entry["txid"] == parent:
                    spent[str(entry["vout"])] = {"vin": index, "txid": item.txid}
            owner.spent = spent
            self._repackage(self.root(owner))
        return item

    def replace(self, old_txid: str, new_tx: dict[str, Any]) -> tuple[Followed, list[Followed]]:
        """Replace a mempool transaction (RBF); return the replacement and every transaction that left
        the mempool (the replaced one first, then its descendants, which are evicted)."""
        old = self.in_mempool(old_txid)
        gone = [old, *self._evict_descendants(old)]
        self._leave(old, "replaced")
        old.replaced_by, old.replaced_now = str(new_tx["txid"]), True
        parent = self._txs.get(old.parent) if old.parent else None
        if parent is not None:
            parent.children.remove(old.txid)
        new = self.enter(new_tx, parent=old.parent)
        old.rbf_info = _rbf_tree(new, old)
        return new, gone

    def evict(self, txid: str) -> list[Followed]:
        """Drop a mempool transaction and its descendants (expired, purged); return them."""
        item = self.in_mempool(txid)
        gone = [item, *self._evict_descendants(item)]
        self._leave(item, "removed")
        self._detach(item)
        return gone

    def _evict_descendants(self, item: Followed) -> list[Followed]:
        gone = [member for member in self.package(item) if member is not item]
        for member in gone:
            self._leave(member, "removed")
        item.children = []
        return gone

    def _detach(self, item: Followed) -> None:
        parent = self._txs.get(item.parent) if item.parent else None
        if parent is not None and parent.state == "mempool":
            parent.children.remove(item.txid)
            self._repackage(self.root(parent))

    def accelerate(self, txid: str, now: float, fee_delta: int) -> None:
        """Accelerate a transaction's whole package: first in the next block of the accelerating pools."""
        root = self.root(self.in_mempool(txid))
        for member in self.package(root):
            member.acceleration = {
                "accelerated": True,
                "acceleratedBy": list(ACCELERATING_POOLS),
                "acceleratedAt": int(now),
                "feeDelta": fee_delta if member is root else 0,
            }
            if member.txid not in self._accelerated:
                self._accelerated.append(member.txid)

    def root(self, item: Followed) -> Followed:
        """The package root: the oldest in-mempool ancestor."""
        while item.parent is not None and (parent := self._txs.get(item.parent)) and parent.state == "mempool":
            item = parent
        return item

    def package(self, root: Followed) -> list[Followed]:
        """``root`` and its in-mempool descendants, parents first."""
        members, stack = [], [root]
        while stack:
            item = stack.pop()
            members.append(item)
            children = (self._txs.get(txid) for txid in reversed(item.children))
            stack.extend(child for child in children if child is not None and child.state == "mempool")
        return members

    def package_rate(self, root: Followed) -> float:
        """The package's total fee over its total vsize, sat/vB."""
        members = self.package(root)
        return sum(float(m.tx["fee"]) for m in members) / sum(m.vsize for m in members)

    def _repackage(self, root: Followed) -> None:
        members = self.package(root)
        rate = self.package_rate(root) if len(members) > 1 else _own_rate(root.tx)
        for member in members:
            if member.rate != rate:
                self._bin_remove(member)
                member.rate = rate
                member.tx["effectiveFeePerVsize"] = rate
                member.cpfp_dirty = True
                self._bin_add(member)

    def reposition(self) -> AheadIndex:
        """Recompute every mempool transaction's ``position`` from the bins; return the index used."""
        index = self._mempool.ahead_index()
        accelerated = 0.0
        for txid in self._accelerated:
            item = self._txs[txid]
            item.tx["position"] = {"block": 0, "vsize": accelerated + item.vsize / 2}
            accelerated += item.vsize
        for item in self._pool.values():
            if item.acceleration is None:
                item.tx["position"] = index.position(item.rate, int(item.tx["weight"]))
        return index

    def mineable(self) -> list[Followed]:
        """The mempool transactions the next block takes: accelerated packages and packages that fit."""
        index = self._mempool.ahead_index()
        mined: list[Followed] = []
        for item in self._pool.values():
            if self.root(item) is not item or any(member.held for member in self.package(item)):
                continue
            members = self.package(item)
            weight = sum(int(member.tx["weight"]) for member in members)
            if item.acceleration is not None or index.ahead(item.rate) + weight <= BLOCK_WEIGHT:
                mined.extend(members)
        return mined

    def confirm(self, items: list[Followed], height: int, block_hash: str, block_time: int) -> list[AddressTx]:
        """Confirm ``items`` in a block; return them as address tracking reports confirmed transactions."""
        for item in items:
            self._leave(item, "confirmed")
            item.block = (height, block_hash, block_time)
            item.tx = confirmed(item.tx, height, block_hash, block_time)
            item.confirmed_now = True
        return [item.address_tx() for item in items]

    def _leave(self, item: Followed, state: TxState) -> None:
        self._bin_remove(item)
        item.state = state
        del self._pool[item.txid]
        self._left.append(item)
        item.tx.pop("position", None)
        if item.txid in self._accelerated:
            self._accelerated.remove(item.txid)
        self._finished.append(item.txid)
        while len(self._finished) > MAX_FINISHED:
            self._txs.pop(self._finished.popleft(), None)

    def _bin_add(self, item: Followed) -> None:
        tx = item.tx
        self._mempool.add(item.rate, 1, int(tx["weight"]), int(tx["size"]), int(tx["fee"]))

    def _bin_remove(self, item: Followed) -> None:
        tx = item.tx
        self._mempool.remove(item.rate, int(tx["weight"]), int(tx["size"]), int(tx["fee"]))

    def status(self, txid: str) -> dict[str, Any]:
        """The esplora ``/api/tx/{txid}/status`` object (``{"confirmed": false}`` for anything unmined)."""
        item = self._txs.get(txid)
        if item is None or item.block is None:
            return {"confirmed": False}
        height, block_hash, block_time = item.block
        return {"confirmed": True, "block_height": height, "block_hash": block_hash, "block_time": block_time}

    def view(self, txid: str) -> TxView | None:
        """The current view of ``txid`` (what a new subscription is answered with), if followed."""
        item = self._txs.get(txid)
        return None if item is None else self._view(item, changes=False)

    def take_views(self, *, block: bool) -> dict[str, TxView]:
        """Views for one event (a mempool change, or a block with ``block``), then clear what they report."""
        views: dict[str, TxView] = {}
        for item in [*self._pool.values(), *self._left]:
            if item.state == "mempool" or (item.confirmed_now if block else item.replaced_now):
                views[item.txid] = self._view(item, changes=True, block=block)
            if block:
                item.confirmed_now = False
            else:
                item.entered_now = item.replaced_now = item.cpfp_dirty = False
                item.spent, item.rbf_info = {}, None
        self._left = [item for item in self._left if item.replaced_now or item.confirmed_now]
        return views

    def _view(self, item: Followed, *, changes: bool, block: bool = False) -> TxView:
        # Views share the position, acceleration and spent dicts: the book replaces them, never edits.
        in_mempool = item.state == "mempool"
        acceleration = item.acceleration if in_mempool else None
        mempool_change = changes and not block
        entered = mempool_change and item.entered_now
        return TxView(
            txid=item.txid,
            state=item.state,
            tx=dict(item.tx) if entered or not changes else item.tx,
            position=item.tx.get("position") if in_mempool else None,
            acceleration=acceleration,
            acceleration_positions=_acceleration_positions(item) if acceleration else (),
            replaced_by=item.replaced_by,
            cpfp=self._cpfp(item) if mempool_change and item.cpfp_dirty and in_mempool else None,
            spent=item.spent if mempool_change and item.spent else None,
            rbf_info=item.rbf_info if mempool_change else None,
            entered_now=entered,
            replaced_now=mempool_change and item.replaced_now,
            confirmed_now=changes and block and item.confirmed_now,
        )

    def _cpfp(self, item: Followed) -> dict[str, Any]:
        ancestors: list[dict[str, Any]] = []
        parent = self._txs.get(item.parent) if item.parent else None
        while parent is not None and parent.state == "mempool":
            ancestors.append(_relative(parent))
            parent = self._txs.get(parent.parent) if parent.parent else None
        descendants = [_relative(member) for member in self.package(item)[1:]]
        return {
            "ancestors": ancestors,
            "bestDescendant": None,
            "descendants": descendants,
            "effectiveFeePerVsize": item.rate,
            "sigops": item.tx["sigops"],
            "adjustedVsize": item.vsize,
        }


def _acceleration_positions(item: Followed) -> tuple[dict[str, Any], ...]:
    position = item.tx.get("position") or {}
    return tuple({"poolId": pool, **position} for pool in ACCELERATING_POOLS)


def _rbf_tree(new: Followed, old: Followed) -> dict[str, Any]:
    """The ``rbfInfo`` replacement tree: the replacing transaction and the one it replaced."""
    new_time, old_time = int(new.tx["firstSeen"]), int(old.tx["firstSeen"])
    replaced = {"tx": {**stripped(old.tx), "rbf": True}, "time": old_time, "interval": new_time - old_time}
    return {
        "tx": {**stripped(new.tx), "rbf": True},
        "time": new_time,
        "fullRbf": False,
        "replaces": [{**replaced, "fullRbf": False, "replaces": []}],
    }
