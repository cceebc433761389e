"""The simulated world: chain, mempool and payments on one clock, and the values clients read.

:class:`World` is sans-I/O. The server calls :meth:`World.advance` with the current time and gets the
events that became due (mempool ticks, blocks, chart points, price updates) in time order.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from typing import Any

from shared.bitcoin.addresses import validate_address
from shared.errors import InvalidAddress
from shared.settings import SimSettings
from simulator import ancillary, jsjson
from simulator.chain import Chain
from simulator.events import ChartPoint, Conversions, Event, MempoolChange, NewBlock, TxView
from simulator.fees import precise_fees, recommended_fees
from simulator.market import MIN_RATE, PRIORITY_RATE, FeeMarket, sample_tx
from simulator.mempool import BLOCK_WEIGHT, MIN_FEE_BTC_KVB, ArrivalMeter, Mempool
from simulator.payments import Payments, TickResult
from simulator.seeding import random_hex, rng_for
from simulator.transactions import child, replacement, stripped
from simulator.txbook import Followed, TxBook

INIT_KEYS = (
    "backend",
    "mempoolInfo",
    "vBytesPerSecond",
    "blocks",
    "conversions",
    "mempool-blocks",
    "transactions",
    "backendInfo",
    "loadingIndicators",
    "da",
    "fees",
    "rbfSummary",
)
MEMPOOL_CHANGE_KEYS = ("mempoolInfo", "vBytesPerSecond", "transactions", "da", "fees")
BLOCK_STATS_KEYS = ("mempoolInfo", "vBytesPerSecond", "fees", "da")
INITIAL_BLOCKS = 8
CHART_WINDOW_S = 7200.0
CHART_INTERVAL_S = 60.0
MIN_CHART_POINTS = 30
"""Points kept (and pre-filled) even when two simulated hours are shorter than a few ticks."""
CONVERSIONS_INTERVAL_S = 300.0
MAX_LATE_TICKS = 5
_PRIORITY_WEIGHT = 10_000_000
"""Backlog (2.5 MvB) paying at least ``PRIORITY_RATE`` that arrivals steer towards."""
_BACKLOG_WEIGHT = 40_000_000
"""Initial low-fee backlog (10 MvB)."""
_EXPIRY_S = 17_400.0
"""Mean simulated lifetime of a low-fee transaction; keeps the backlog near 10 MvB."""
_AVERAGE_TX_VBYTES = 280
_MAX_SAMPLES = 48
MAX_RATE = 100_000.0
"""Highest fee rate a control accepts, sat/vB."""


class World:
    """Everything the simulator serves, advanced by wall-clock time."""

    def __init__(self, settings: SimSettings, now: float) -> None:
        self.settings = settings
        self.network = settings.network
        self.speed = settings.speed
        self.tick_s = settings.tick_s
        self.anchor = settings.anchor_unix_s if settings.anchor_unix_s is not None else now
        self.market = FeeMarket(settings.seed, self.network)
        self.chain = Chain(settings.seed, self.network, self.anchor, self.speed, self.market)
        self.chain.start(now)
        self.mempool = Mempool()
        self.txbook = TxBook(self.mempool)
        self.meter = ArrivalMeter(self.speed)
        self.payments = Payments(settings.seed, self.network)
        self.tick = 0
        self._recent: deque[dict[str, Any]] = deque(maxlen=6)
        self._rbf = deque(ancillary.initial_rbf_summary(settings.seed), maxlen=6)
        self._chart: deque[tuple[float, str]] = deque()
        self._chart_interval = max(CHART_INTERVAL_S / self.speed, self.tick_s)
        self._prices_interval = max(CONVERSIONS_INTERVAL_S / self.speed, self.tick_s)
        self._next_tick = now + self.tick_s
        self._next_chart = now + self._chart_interval
        self._next_prices = now + self._prices_interval if self.network == "mainnet" else math.inf
        self._prices = 0
        self._values: dict[str, str] = {}
        self._projected: list[dict[str, Any]] = []
        self._init = ""
        self._prefill(now)

    def _prefill(self, now: float) -> None:
        rng = rng_for(self.settings.seed, "prefill")
        pressure = self.market.pressure(self._position(now))
        while self.mempool.weight < _PRIORITY_WEIGHT + _BACKLOG_WEIGHT:
            weight, fee = sample_tx(self.market, rng, pressure)
            rate = fee / (weight / 4)
            if (self.mempool.weight_from(PRIORITY_RATE) >= _PRIORITY_WEIGHT) == (rate >= PRIORITY_RATE):
                continue
            count = rng.randint(5, 60)
            size = round(weight * rng.uniform(0.36, 0.42))
            self.mempool.add(rate, count, weight * count, size * count, fee * count)
            self._note_recent(rng, weight, fee, now)
        static = {
            "backend": ancillary.BACKEND,
            "backendInfo": ancillary.BACKEND_INFO,
            "loadingIndicators": {},
        }
        self._values.update({key: jsjson.dumps(value) for key, value in static.items()})
        if self.network == "mainnet":
            self._values["conversions"] = jsjson.dumps(ancillary.conversions(self.settings.seed, 0, now))
        self._values["blocks"] = self._blocks_value()
        self._refresh(now)
        self._prefill_chart(now)

    def _prefill_chart(self, now: float) -> None:
        base = self._chart_point(now)
        rng = rng_for(self.settings.seed, "chart-prefill")
        steps = max(MIN_CHART_POINTS, int(CHART_WINDOW_S / self.speed / self._chart_interval))
        for step in range(steps, 0, -1):
            scale = 1 + 0.08 * math.sin(step / 11) + rng.uniform(-0.02, 0.02)
            at = now - step * self._chart_interval
            point = dict(base, added=int(at), count=round(base["count"] * scale))
            point["vsizes"] = [round(band * scale) for band in base["vsizes"]]
            point["total_fee"] = round(base["total_fee"] * scale)
            point["mempool_byte_weight"] = 4 * sum(point["vsizes"])
            self._chart.append((at, jsjson.dumps(point)))

    def _position(self, now: float) -> float:
        return (now - self.anchor) / self.chain.slot_s

    def _note_recent(self, rng: random.Random, weight: int, fee: int, now: float) -> None:
        vsize = weight / 4
        value = round(rng.lognormvariate(math.log(3_000_000), 1.6))
        self._recent.appendleft(
            {
                "txid": random_hex(rng, 32),
                "fee": fee,
                "vsize": vsize,
                "value": value,
                "rate": fee / vsize,
                "time": int(now),
            }
        )

    def value(self, key: str) -> str | None:
        """The current serialized value of a protocol key (``blocks``, ``fees``, ...), if known."""
        return self._values.get(key)

    def init_data(self) -> str:
        """The cached init frame (also the body of ``/api/v1/init-data``)."""
        return self._init

    @property
    def fees(self) -> dict[str, float]:
        """The current precise recommended fees."""
        return precise_fees(self._projected, MIN_FEE_BTC_KVB * 1e5)

    def recommended_fees(self) -> dict[str, int]:
        """Whole-sat recommended fees (``/api/v1/fees/recommended``)."""
        return recommended_fees(self._projected, MIN_FEE_BTC_KVB * 1e5)

    def _blocks_value(self) -> str:
        return jsjson.dumps(self.chain.recent(INITIAL_BLOCKS)[::-1])

    def _refresh(self, now: float) -> None:
        self._projected = self.mempool.projected_blocks()
        fallback = self.market.demand_vbytes_per_s(self.market.pressure(self._position(now)))
        values: dict[str, Any] = {
            "mempoolInfo": self.mempool.info(),
            "vBytesPerSecond": self.meter.per_second(fallback),
            "mempool-blocks": self._projected,
            "transactions": list(self._recent),
            "da": self.chain.difficulty_adjustment(now),
            "fees": self.fees,
            "rbfSummary": list(self._rbf),
        }
        self._values.update({key: jsjson.dumps(value) for key, value in values.items()})
        self._rebuild_init()

    def _rebuild_init(self) -> None:
        self._init = jsjson.frame((key, self._values[key]) for key in INIT_KEYS if key in self._values)

    def _pairs(self, keys: Iterable[str]) -> tuple[tuple[str, str], ...]:
        return tuple((key, self._values[key]) for key in keys)

    def next_due(self) -> float:
        """Unix time of the next scheduled event."""
        return min(self._next_tick, self.chain.next_block_time(), self._next_chart, self._next_prices)

    def advance(self, now: float) -> list[Event]:
        """Run every event due at or before ``now``, oldest first, and return what they announce."""
        events: list[Event] = []
        while (due := self.next_due()) <= now:
            if due == self.chain.next_block_time():
                events.extend(self._on_block(self.chain.mine_slot(), due))
            elif due == self._next_tick:
                events.append(self._on_tick(due, now))
            elif due == self._next_chart:
                self._next_chart = self._skip(self._next_chart, self._chart_interval, now)
                events.append(self._add_chart_point(due))
            else:
                events.append(self._on_prices(due, now))
        return events

    def _skip(self, due: float, interval: float, now: float) -> float:
        late = math.floor((now - due) / interval)
        return due + interval * (1 + (late if late > MAX_LATE_TICKS else 0))

    def _on_tick(self, at: float, now: float) -> MempoolChange:
        following = self._skip(self._next_tick, self.tick_s, now)
        self.tick += round((following - self._next_tick) / self.tick_s)
        self._next_tick = following
        rng = rng_for(self.settings.seed, "tick", self.tick)
        self.meter.record(at, self._arrivals(rng, at))
        result = self.payments.on_tick(self.tick, at, self.fees, self.chain.tip_height)
        entered, left = self._apply_payments(result, at)
        self.mempool.expire_below(PRIORITY_RATE, self.tick_s * self.speed / _EXPIRY_S, rng)
        self.mempool.evict()
        return self._mempool_change(at, entered, left)

    def _mempool_change(self, now: float, entered: list[Followed], left: list[Followed]) -> MempoolChange:
        self._refresh(now)
        self.txbook.reposition()
        return MempoolChange(
            self._pairs(MEMPOOL_CHANGE_KEYS),
            self._values["mempool-blocks"],
            tuple(item.address_tx() for item in entered),
            tuple(item.address_tx() for item in left),
            self.txbook.take_views(block=False),
        )

    def _arrivals(self, rng: random.Random, now: float) -> float:
        pressure = self.market.pressure(self._position(now))
        backlog = self.mempool.weight_from(PRIORITY_RATE)
        reversion = min(1.5, max(0.5, 1 + 0.5 * (_PRIORITY_WEIGHT - backlog) / _PRIORITY_WEIGHT))
        vbytes = self.market.demand_vbytes_per_s(pressure) * self.tick_s * self.speed * reversion
        n_tx = max(1, round(vbytes * rng.uniform(0.7, 1.3) / _AVERAGE_TX_VBYTES))
        samples = min(n_tx, _MAX_SAMPLES)
        added = 0.0
        for index in range(samples):
            count = n_tx // samples + (1 if index < n_tx % samples else 0)
            weight, fee = sample_tx(self.market, rng, pressure)
            size = round(weight * rng.uniform(0.36, 0.42))
            self.mempool.add(fee / (weight / 4), count, weight * count, size * count, fee * count)
            self._note_recent(rng, weight, fee, now)
            added += weight * count / 4
        return added

    def _apply_payments(self, result: TickResult, now: float) -> tuple[list[Followed], list[Followed]]:
        entered: list[Followed] = []
        left: list[Followed] = []
        for old_txid, new_tx in result.replacements:
            old = self.txbook.get(old_txid)
            if old is not None and old.state == "mempool":
                self._replace(old_txid, new_tx, now, entered, left)
        for tx, held in result.entered:
            entered.append(self._arrived(self.txbook.enter(tx, held=held), now))
        return entered, left

    def _arrived(self, item: Followed, now: float) -> Followed:
        self._recent.appendleft(stripped(item.tx))
        self.meter.record(now, item.vsize)
        return item

    def _replace(
        self, txid: str, new_tx: dict[str, Any], now: float, entered: list[Followed], left: list[Followed]
    ) -> None:
        new, gone = self.txbook.replace(txid, new_tx)
        entered.append(self._arrived(new, now))
        left.extend(gone)
        old = gone[0]
        info = ancillary.replacement_info(new.txid, (old.tx["fee"], old.vsize), (new.tx["fee"], new.vsize), False)
        self._rbf.appendleft(info)

    def _on_block(self, block: dict[str, Any], now: float) -> list[Event]:
        mined = self.txbook.mineable()
        confirmed = self.txbook.confirm(mined, block["height"], block["id"], block["timestamp"])
        self.mempool.mine(BLOCK_WEIGHT - sum(int(item.tx["weight"]) for item in mined))
        self._values["blocks"] = self._blocks_value()
        self._refresh(now)
        self.txbook.reposition()
        announced = NewBlock(
            jsjson.dumps(block),
            block["height"],
            self._pairs(BLOCK_STATS_KEYS),
            self._values["mempool-blocks"],
            tuple(confirmed),
            self.txbook.take_views(block=True),
        )
        return [announced, self._add_chart_point(now)]

    def _chart_point(self, now: float) -> dict[str, Any]:
        vsizes = self.mempool.chart_vsizes()
        return {
            "added": int(now),
            "count": self.mempool.count,
            "vbytes_per_second": int(self._values["vBytesPerSecond"]),
            "total_fee": self.mempool.fees,
            "mempool_byte_weight": 4 * sum(vsizes),
            "min_fee": round(MIN_FEE_BTC_KVB * 1e5, 3),
            "vsizes": vsizes,
        }

    def _add_chart_point(self, now: float) -> ChartPoint:
        value = jsjson.dumps(self._chart_point(now))
        self._chart.append((now, value))
        while len(self._chart) > MIN_CHART_POINTS and self._chart[0][0] < now - CHART_WINDOW_S / self.speed:
            self._chart.popleft()
        return ChartPoint(value)

    def _on_prices(self, at: float, now: float) -> Conversions:
        self._next_prices = self._skip(self._next_prices, self._prices_interval, now)
        self._prices += 1
        value = jsjson.dumps(ancillary.conversions(self.settings.seed, self._prices, at))
        self._values["conversions"] = value
        self._rebuild_init()
        return Conversions(value)

    def mine_now(self, now: float) -> tuple[dict[str, Any], list[Event]]:
        """Mine a block immediately; return it and its events."""
        block = self.chain.mine_now(now)
        return block, self._on_block(block, now)

    def track(self, addresses: Iterable[str]) -> None:
        """Note addresses (canonical) that a connection started tracking."""
        for address in addresses:
            self.payments.on_tracked(address, self.tick)

    def pay(self, address: str, sats: int, now: float, rate: float | None = None) -> str:
        """Queue a payment of ``sats`` to ``address`` for the next tick, at ``rate`` sat/vB (default: the
        fastest recommended fee); return its txid."""
        if sats <= 0 or sats > 21_000_000 * 10**8:
            raise ValueError("sats must be a positive amount")
        canonical = validate_address(address, self.network).text
        paid = self.fees["fastestFee"] if rate is None else _checked_rate(rate)
        return self.payments.queue(
            canonical, sats, tick=self.tick + 1, rate=paid, now=now, locktime=self.chain.tip_height
        )

    def replace_now(self, txid: str, now: float, rate: float | None = None) -> tuple[str, list[Event]]:
        """Replace a mempool transaction (RBF) with one paying ``rate`` (default: the fastest fee, and
        always at least 1 sat/vB more); return the replacing txid and the mempool change announcing it."""
        old = self.txbook.in_mempool(txid)
        paid = self.fees["fastestFee"] if rate is None else _checked_rate(rate)
        new_tx = replacement(rng_for(self.settings.seed, "replace", txid), old.tx, paid, int(now))
        entered: list[Followed] = []
        left: list[Followed] = []
        self._replace(txid, new_tx, now, entered, left)
        return str(new_tx["txid"]), [self._mempool_change(now, entered, left)]

    def bump_now(self, txid: str, now: float, rate: float | None = None) -> tuple[str, float, list[Event]]:
        """Add a CPFP child to a mempool transaction lifting its package to ``rate`` (default: the fastest
        fee or 1.5 times the current effective rate, whichever is higher); return the child's txid, the
        new effective fee rate and the mempool change announcing it."""
        parent = self.txbook.in_mempool(txid)
        members = self.txbook.package(self.txbook.root(parent))
        current = members[0].rate
        target = max(self.fees["fastestFee"], current * 1.5) if rate is None else _checked_rate(rate)
        if target <= current:
            raise ValueError(f"rate must exceed the current effective fee rate ({current:.3f} sat/vB)")
        paid = sum(int(member.tx["fee"]) for member in members)
        vsize = sum(member.vsize for member in members)

        def fee_for_weight(weight: int) -> int:
            return max(math.ceil(target * (vsize + weight / 4)) - paid, math.ceil(MIN_RATE * weight / 4))

        rng = rng_for(self.settings.seed, "bump", txid, len(parent.children))
        child_tx = child(rng, self.network, parent.tx, fee_for_weight, int(now))
        item = self._arrived(self.txbook.enter(child_tx, parent=txid), now)
        return item.txid, item.rate, [self._mempool_change(now, [item], [])]

    def accelerate_now(self, txid: str, now: float) -> list[Event]:
        """Accelerate a mempool transaction's package (mined by the next block); return the mempool change."""
        root = self.txbook.root(self.txbook.in_mempool(txid))
        vsize = sum(member.vsize for member in self.txbook.package(root))
        fee_delta = math.ceil(max(2 * self.fees["fastestFee"] - root.rate, 1.0) * vsize)
        self.txbook.accelerate(txid, now, fee_delta)
        return [self._mempool_change(now, [], [])]

    def evict_now(self, txid: str, now: float) -> list[Event]:
        """Drop a mempool transaction and its descendants unmined; return the mempool change."""
        return [self._mempool_change(now, [], self.txbook.evict(txid))]

    def followed(self, txid: str) -> TxView | None:
        """What ``track-tx``/``track-txs`` report about ``txid`` now (``None``: not a known transaction)."""
        return self.txbook.view(txid)

    def tx_status(self, txid: str) -> dict[str, Any]:
        """The esplora ``/api/tx/{txid}/status`` object."""
        return self.txbook.status(txid)

    def chart_history(self) -> str:
        """The 2-hour statistics, newest first (``/api/v1/statistics/2h``)."""
        return "[" + ",".join(value for _, value in reversed(self._chart)) + "]"

    def canonical(self, address: str) -> str | None:
        """The canonical form of an address of this network, or ``None``."""
        try:
            return validate_address(address, self.network).text
        except InvalidAddress:
            return None


def _checked_rate(rate: float) -> float:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"rate must be between {MIN_RATE} and {MAX_RATE:g} sat/vB")
    return rate
