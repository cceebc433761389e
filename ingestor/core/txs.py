"""Tracked transactions in the publish core: what to publish, what to read back over REST, what to mark.

**Publish policy.** The upstream repeats the position of every tracked transaction on every mempool
update (about once a second) and in the reply to every list it is sent. An event is published only when
something an agent acts on changes (:class:`TxFacts`): the status, the projected block index, the
effective fee rate (a CPFP child raised it), the acceleration, the replacing txid, or the confirming
block. The vsize ahead of the transaction alone makes no event (it moves on nearly every update); the
published position carries the vsize of the moment one of those changed. A confirmation without its
block (a frame without ``block``) is read back over REST for its height rather than published bare.

**Coverage and recovery.** Like an address (:mod:`ingestor.core.addresses`), a txid is covered from the
moment a socket's reply confirms the list that carries it, and blind from the moment that socket drops,
its list moves, or a takeover (from its last published event). Unlike an address, a transaction's state
can be read back. The reply that confirms a list names every listed txid that is in the mempool or
replaced; a listed txid it leaves out was confirmed, left the mempool unmined, or is unknown, and
``/api/tx/{txid}/status`` tells confirmed (with its block) from not. So when a list is confirmed, a txid
left out is checked over REST if it was blind, is tracked for the first time, or was last seen in the
mempool (the upstream reports no eviction: it just stops naming the txid). Confirmed becomes a
confirmation event; not confirmed after being seen in the mempool becomes ``removed`` (unless a frame named
the txid while the check was in flight: the frame is newer); never seen and not confirmed publishes nothing
(not broadcast yet, or an unknown txid). Only a blind interval whose check fails gets a gap notice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ingestor.core.addresses import AddressWatch
from ingestor.core.work import Reason, Work, add_gap
from shared.events import Publication, tx_topic
from shared.models import TxStatus

KNOWN_TXS = 20_000
"""Transactions whose last published facts are remembered (the least recently changed are forgotten)."""


@dataclass(frozen=True, slots=True)
class TxFacts:
    """What the publish policy compares: an event is published when one of these changes."""

    status: str
    block_index: int | None = None
    effective_fee_rate: float | None = None
    accelerated: bool = False
    replaced_by: str | None = None
    block_height: int | None = None
    block_hash: str | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> TxFacts:
        """The facts of a ``tx:{txid}`` event's data (a :class:`~shared.models.TxStatus` as JSON)."""
        position = data.get("position")
        position = position if isinstance(position, Mapping) else {}
        return cls(
            status=str(data.get("status")),
            block_index=position.get("block_index"),
            effective_fee_rate=position.get("effective_fee_rate"),
            accelerated=bool(data.get("accelerated")),
            replaced_by=data.get("replaced_by"),
            block_height=data.get("block_height"),
            block_hash=data.get("block_hash"),
        )


@dataclass(frozen=True, slots=True)
class RestTxStatus:
    """The upstream's ``/api/tx/{txid}/status``: confirmed (with its block) or not, which covers in the
    mempool, replaced, evicted and never seen alike."""

    confirmed: bool
    block_height: int | None = None
    block_hash: str | None = None
    block_time_unix_s: int | None = None


@dataclass(slots=True)
class _Check:
    """A REST check asked for: the blind interval it must close (if any), a confirmation without its block
    to publish as it is should the check fail, whether the txid was last seen in the mempool when asked
    (only then does "not confirmed" mean removed), and whether a frame named it since (then the frame is
    newer than any answer in flight)."""

    blind_from_ms: int | None = None
    fallback: Mapping[str, Any] | None = None
    in_mempool: bool = False
    overtaken: bool = False


class TxWatch:
    """Coverage, last published facts and REST checks of every wanted txid (pure; times in Unix ms)."""

    def __init__(self, network: str, known_size: int = KNOWN_TXS) -> None:
        self.network = network
        self._coverage = AddressWatch()
        self._wanted: set[str] = set()
        self._checked: set[str] = set()
        self._known: OrderedDict[str, TxFacts] = OrderedDict()
        self._known_size = known_size
        self._checks: dict[str, _Check] = {}
        self._asked: list[str] = []

    # -- inputs ---------------------------------------------------------------------------------------

    def inherit(
        self, since_ms: int, last_event_ms: Mapping[str, int], last_data: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """A takeover: each txid of the next :meth:`wanted` is blind since its last published event (or
        ``since_ms``), and its last published data is what the policy compares with."""
        self._coverage.inherit(since_ms, last_event_ms)
        for txid, data in last_data.items():
            if "gap" not in data:
                self._remember(txid, TxFacts.of(data))

    def wanted(self, txids: Collection[str], now_ms: int) -> None:
        """The txids to track from now on (those no longer wanted are forgotten, but not their facts)."""
        self._coverage.wanted(txids, now_ms)
        self._wanted = set(txids)
        self._checked &= self._wanted

    def admit(self, txid: str, data: Mapping[str, Any], *, read_back: bool = True) -> bool:
        """Whether an event read from a frame is published (the publish policy); remembers it if so.

        With ``read_back``, a confirmation without its block is not published but read back over REST.
        """
        if "gap" in data:
            return True
        facts = TxFacts.of(data)
        known = self._known.get(txid)
        if read_back and (pending := self._checks.get(txid)) is not None:
            pending.overtaken = True
        if facts.status == "confirmed" and known is not None and known.status == "confirmed":
            return False  # a repeat: the block was published with the first one
        if read_back and facts.status == "confirmed" and facts.block_height is None:
            self._ask(txid, _Check(fallback=data))
            return False
        if facts == known:
            return False
        self._remember(txid, facts)
        return True

    def forget(self, txid: str) -> None:
        """An event of ``txid`` was dropped unpublished: whatever comes next is news again."""
        self._known.pop(txid, None)

    def confirmed(self, socket: str, txids: Iterable[str], reported: Collection[str], now_ms: int) -> None:
        """``socket``'s reply confirms it tracks ``txids``; the reply named ``reported`` (in the mempool or
        replaced). Asks for the REST checks the rules call for (see the module)."""
        listed = list(txids)
        blind = {gap.address: gap for gap in self._coverage.confirmed(socket, listed, now_ms)}
        for txid in listed:
            if txid not in self._wanted:
                continue
            first = txid not in self._checked
            self._checked.add(txid)
            if txid in reported:
                continue
            known = self._known.get(txid)
            gap = blind.get(txid)
            if known is not None and known.status != "mempool":
                continue  # confirmed, replaced or removed: nothing left to miss
            if known is not None or first or gap is not None:
                in_mempool = known is not None and known.status == "mempool"
                self._ask(txid, _Check(blind_from_ms=gap.from_ms if gap else None, in_mempool=in_mempool))

    def lost(self, socket: str, now_ms: int, reason: str) -> None:
        """``socket`` tracks nothing any more (it dropped)."""
        self._coverage.lost(socket, now_ms, reason)

    # -- outputs --------------------------------------------------------------------------------------

    def take_checks(self) -> list[str]:
        """Txids to read over REST now; answer with :meth:`checked`."""
        asked, self._asked = self._asked, []
        return asked

    def checked(self, results: Mapping[str, RestTxStatus | None], now_ms: int, tip_height: int | None) -> Work:
        """The answers to :meth:`take_checks` (None: the read failed) as work to publish."""
        work = Work(now_ms)
        for txid, result in results.items():
            check = self._checks.pop(txid, None)
            if check is None or txid not in self._wanted:
                continue
            data = self._answer(txid, result, check, tip_height)
            if data is not None:
                if self.admit(txid, data, read_back=False):
                    work.publications.append(Publication(self.network, tx_topic(txid), data, now_ms))
            elif result is None and check.blind_from_ms is not None:
                add_gap(self.network, work, tx_topic(txid), check.blind_from_ms, now_ms, Reason.TX_UNRECOVERED)
        return work

    # -- rules ----------------------------------------------------------------------------------------

    def _answer(
        self, txid: str, result: RestTxStatus | None, check: _Check, tip_height: int | None
    ) -> dict[str, Any] | None:
        known = self._known.get(txid)
        accelerated = known.accelerated if known is not None else False
        if result is None:
            return dict(check.fallback) if check.fallback is not None else None
        if result.confirmed and result.block_height is not None:
            depth = tip_height - result.block_height + 1 if tip_height is not None else 1
            return TxStatus(
                txid=txid,
                status="confirmed",
                block_height=result.block_height,
                block_hash=result.block_hash,
                block_time_unix_s=result.block_time_unix_s,
                confirmations=max(1, depth),
                accelerated=accelerated,
            ).model_dump(mode="json")
        if result.confirmed:
            return dict(check.fallback) if check.fallback is not None else None
        if check.in_mempool and not check.overtaken and known is not None and known.status == "mempool":
            return TxStatus(txid=txid, status="removed", accelerated=accelerated).model_dump(mode="json")
        return None

    def _ask(self, txid: str, check: _Check) -> None:
        pending = self._checks.get(txid)
        if pending is None:
            self._checks[txid] = check
            self._asked.append(txid)
            return
        if check.blind_from_ms is not None:
            earlier = pending.blind_from_ms
            pending.blind_from_ms = check.blind_from_ms if earlier is None else min(earlier, check.blind_from_ms)
        pending.fallback = pending.fallback or check.fallback
        pending.in_mempool = pending.in_mempool or check.in_mempool

    def _remember(self, txid: str, facts: TxFacts) -> None:
        self._known.pop(txid, None)
        self._known[txid] = facts
        while len(self._known) > self._known_size:
            self._known.popitem(last=False)
