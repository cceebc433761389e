"""One frame's keys dispatched to their readers, results gathered in frame key order."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Final

from pydantic import BaseModel

from ingestor.normalize._coerce import Malformed, describe, to_str
from ingestor.normalize.addresses import (
    SINGLE_ADDRESS_KEYS,
    AddressCollector,
    collect_multi,
    collect_single,
    tracked_lookup,
)
from ingestor.normalize.blocks import parse_block, parse_blocks
from ingestor.normalize.fee_chart import parse_fee_chart_point
from ingestor.normalize.mempool_blocks import parse_mempool_blocks
from ingestor.normalize.results import ControlReplies, NormalizedFrame
from ingestor.normalize.stats import STATS_KEYS, StatsState
from ingestor.normalize.txs import (
    REPLACED_KEYS,
    TxCollector,
    TxMemory,
    read_confirmed,
    read_position,
    read_replaced,
    read_tracked,
)
from shared.events import TOPIC_LIVE_2H, TOPIC_MEMPOOL_BLOCKS, TOPIC_STATS, Publication, address_topic, tx_topic
from shared.models import Block

IGNORED_KEYS: Final = frozenset(
    {
        "accelerations", "backend", "backendInfo", "conversions", "donationConfirmed", "loadingIndicators",
        "mempool-transactions", "mempool-txids", "multi-scriptpubkey-transactions",
        "projected-block-transactions", "rbfInfo", "rbfLatest", "rbfLatestSummary", "rbfSummary",
        "stratumJob", "stratumJobs", "tomahawk", "transactions", "tx", "utxoSpent", "wallet-transactions",
    }
)  # fmt: skip
"""Keys this normalizer knows and deliberately does not publish."""

_STATS_SLOT: Final = "stats"
_ADDRESS_SLOT: Final = "addresses"
_TX_SLOT: Final = "txs"
_NO_CONTROL: Final = ControlReplies()


def printable(text: str) -> str:
    """``text`` made encodable as UTF-8 (lone surrogates escaped), for metrics and logs."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class FrameRun:
    """The results of one frame while its keys are read; :meth:`finish` freezes them."""

    __slots__ = (
        "addresses", "blocks_snapshot", "errors", "ignored_keys", "items", "keys", "lookup", "network",
        "new_block", "pong", "received_ms", "refreshed", "stats", "track_errors", "tracked", "tracked_tx",
        "tx_memory", "txs", "unknown_keys",
    )  # fmt: skip

    def __init__(
        self,
        network: str,
        stats: StatsState,
        received_ms: int,
        tracked: Collection[str],
        tx_memory: TxMemory,
        tracked_tx: str | None = None,
    ) -> None:
        self.network = network
        self.received_ms = received_ms
        self.tracked = tracked
        self.tracked_tx = tracked_tx
        self.stats = stats
        self.tx_memory = tx_memory
        self.items: list[Publication | str] = []
        self.keys: list[str] = []
        self.unknown_keys: list[str] = []
        self.ignored_keys: list[str] = []
        self.errors: list[str] = []
        self.new_block: Block | None = None
        self.blocks_snapshot: list[Block] = []
        self.pong = False
        self.track_errors: dict[str, str] = {}
        self.refreshed: list[str] | None = None
        self.addresses: AddressCollector | None = None
        self.lookup: dict[str, str] | None = None
        self.txs: TxCollector | None = None

    def feed(self, key: str, value: object) -> None:
        """Read one top-level key; a failure becomes one entry in ``errors``."""
        shown = printable(key)
        self.keys.append(shown)
        handler = _HANDLERS.get(key)
        if handler is None:
            (self.ignored_keys if key in IGNORED_KEYS else self.unknown_keys).append(shown)
            return
        try:
            handler(self, key, value)
        except Malformed as exc:
            self._error(key, exc)
        except Exception as exc:  # a reader bug must not lose the rest of the frame
            self._error(key, f"internal error: {exc!r}")

    def _error(self, key: str, detail: object) -> None:
        self.errors.append(printable(f"{key}: {detail}"))

    def _publish(self, topic: str, model: BaseModel) -> None:
        self.items.append(self._publication(topic, model))

    def finish(self) -> NormalizedFrame:
        """The frozen result; gathered events sit where the first key feeding them was."""
        publications: list[Publication] = []
        for item in self.items:
            if isinstance(item, Publication):
                publications.append(item)
            elif item == _STATS_SLOT and self.refreshed:
                publications.append(self._publication(TOPIC_STATS, self.stats.snapshot(self.refreshed)))
            elif item == _ADDRESS_SLOT and self.addresses is not None:
                for activity in self.addresses.activities():
                    publications.append(self._publication(address_topic(activity.address), activity))
            elif item == _TX_SLOT and self.txs is not None:
                for status in self.txs.statuses(self.new_block, self.tx_memory):
                    publications.append(self._publication(tx_topic(status.txid), status))
        return NormalizedFrame(
            publications=publications,
            new_block=self.new_block,
            blocks_snapshot=self.blocks_snapshot,
            control=self._control(),
            keys=self.keys,
            unknown_keys=self.unknown_keys,
            ignored_keys=self.ignored_keys,
            errors=self.errors,
        )

    def _control(self) -> ControlReplies:
        if not self.pong and not self.track_errors:
            return _NO_CONTROL
        return ControlReplies(
            pong=self.pong,
            track_addresses_error=self.track_errors.get("track-addresses-error"),
            track_scriptpubkeys_error=self.track_errors.get("track-scriptpubkeys-error"),
            track_txs_error=self.track_errors.get("track-txs-error"),
        )

    def _publication(self, topic: str, model: BaseModel) -> Publication:
        return Publication(self.network, topic, model.model_dump(mode="json"), self.received_ms)

    def _on_mempool_blocks(self, key: str, value: object) -> None:
        self._publish(TOPIC_MEMPOOL_BLOCKS, parse_mempool_blocks(value))

    def _on_stats_part(self, key: str, value: object) -> None:
        if self.refreshed is None:
            self.refreshed = []
            self.items.append(_STATS_SLOT)
        self.refreshed.append(self.stats.apply(key, value))

    def _on_fee_chart(self, key: str, value: object) -> None:
        self._publish(TOPIC_LIVE_2H, parse_fee_chart_point(value))

    def _on_block(self, key: str, value: object) -> None:
        self.new_block = parse_block(value, "live")

    def _on_blocks(self, key: str, value: object) -> None:
        self.blocks_snapshot, errors = parse_blocks(value)
        for error in errors:
            self._error(key, error)

    def _on_multi_address(self, key: str, value: object) -> None:
        self._add_errors(key, collect_multi(value, self._collector()))

    def _on_single_address(self, key: str, value: object) -> None:
        collector = self._collector()
        if self.lookup is None:
            self.lookup = tracked_lookup(self.tracked)
        self._add_errors(key, collect_single(key, value, self.lookup, collector))

    def _collector(self) -> AddressCollector:
        if self.addresses is None:
            self.addresses = AddressCollector()
            self.items.append(_ADDRESS_SLOT)
        return self.addresses

    def _tx_collector(self) -> TxCollector:
        if self.txs is None:
            self.txs = TxCollector()
            self.items.append(_TX_SLOT)
        return self.txs

    def _on_tx_position(self, key: str, value: object) -> None:
        read_position(value, self._tx_collector())

    def _on_tx_confirmed(self, key: str, value: object) -> None:
        read_confirmed(value, self._tx_collector())

    def _on_tx_replaced(self, key: str, value: object) -> None:
        read_replaced(value, self.tracked_tx, self._tx_collector())

    def _on_tracked_txs(self, key: str, value: object) -> None:
        self._add_errors(key, read_tracked(value, self._tx_collector()))

    def _on_pong(self, key: str, value: object) -> None:
        if value is not True:
            raise Malformed(f"expected true, got {describe(value)}")
        self.pong = True

    def _on_track_error(self, key: str, value: object) -> None:
        try:
            self.track_errors[key] = to_str(value)
        except Malformed:
            self.track_errors[key] = f"(not a string: {describe(value)})"
            raise

    def _add_errors(self, key: str, errors: list[Malformed]) -> None:
        for error in errors:
            self._error(key, error)


_Handler = Callable[[FrameRun, str, object], None]
_HANDLERS: Final[dict[str, _Handler]] = {
    "mempool-blocks": FrameRun._on_mempool_blocks,
    **dict.fromkeys(STATS_KEYS, FrameRun._on_stats_part),
    "live-2h-chart": FrameRun._on_fee_chart,
    "block": FrameRun._on_block,
    "blocks": FrameRun._on_blocks,
    "multi-address-transactions": FrameRun._on_multi_address,
    **dict.fromkeys(SINGLE_ADDRESS_KEYS, FrameRun._on_single_address),
    "txPosition": FrameRun._on_tx_position,
    "txConfirmed": FrameRun._on_tx_confirmed,
    **dict.fromkeys(REPLACED_KEYS, FrameRun._on_tx_replaced),
    "tracked-txs": FrameRun._on_tracked_txs,
    "pong": FrameRun._on_pong,
    "track-addresses-error": FrameRun._on_track_error,
    "track-scriptpubkeys-error": FrameRun._on_track_error,
    "track-txs-error": FrameRun._on_track_error,
}
KNOWN_KEYS: Final = frozenset(_HANDLERS) | IGNORED_KEYS
