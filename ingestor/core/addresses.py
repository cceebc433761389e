"""Where each wanted address is tracked upstream, and since when it is not (so the gap can be announced).

An address is *covered* from the moment a socket's reply confirms the list that carries it, and *blind*
from the moment its socket drops, its socket's confirmed list no longer carries it (it moved), or the
upstream cleared the list. When a socket confirms it again, the blind interval becomes a gap notice. On
a takeover, every address wanted at the first lease read is blind since its last published event (or
the previous leader's last activity): the new leader's sockets are new, but for its consumers they are
reconnects. An address no call wanted for a while (a consumer killed and resumed from its cursor, leases
lost with an emptied Redis) is blind from when it stopped being wanted until it is tracked again, for as
long as its history lives.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from ingestor.core.work import Reason

UNWANTED_REMEMBERED = 20_000
"""Addresses (and txids) whose time of leaving the wanted set is remembered, the oldest forgotten first."""
UNWANTED_FOR_MS = 86_400_000
"""How long that time is remembered: the history of an address or transaction topic lives 24 h."""


@dataclass(slots=True)
class _Watch:
    socket: str | None = None
    blind_from_ms: int | None = None
    reason: str = Reason.OUTAGE


@dataclass(frozen=True, slots=True)
class AddressGap:
    """An address was blind during ``from_ms..to_ms``."""

    address: str
    from_ms: int
    to_ms: int
    reason: str


class AddressWatch:
    """Coverage of every wanted address."""

    def __init__(self) -> None:
        self._watches: dict[str, _Watch] = {}
        self._inherited_from_ms: int | None = None
        self._last_event_ms: dict[str, int] = {}
        self._unwanted_since: OrderedDict[str, int] = OrderedDict()

    def inherit(self, since_ms: int, last_event_ms: Mapping[str, int] | None = None) -> None:
        """This replica takes over: each address of the next :meth:`wanted` call is blind since its last
        published event (``last_event_ms``), or else since ``since_ms``."""
        self._inherited_from_ms = since_ms
        self._last_event_ms = dict(last_event_ms or {})

    def wanted(self, addresses: Collection[str], now_ms: int) -> None:
        """The addresses to track from now on; one wanted again is blind since it stopped being wanted."""
        for address in [a for a in self._watches if a not in addresses]:
            watch = self._watches.pop(address)
            blind_from = watch.blind_from_ms if watch.socket is None and watch.blind_from_ms is not None else now_ms
            self._unwanted_since[address] = min(blind_from, now_ms)
            self._unwanted_since.move_to_end(address)
        while len(self._unwanted_since) > UNWANTED_REMEMBERED:
            self._unwanted_since.popitem(last=False)
        inherited, last = self._inherited_from_ms, self._last_event_ms
        for address in addresses:
            if address in self._watches:
                continue
            watch = _Watch(reason=Reason.TAKEOVER)
            if inherited is not None:
                watch.blind_from_ms = last.get(address, inherited)
            unwanted = self._unwanted_since.pop(address, now_ms - UNWANTED_FOR_MS - 1)
            earliest = watch.blind_from_ms if watch.blind_from_ms is not None else now_ms
            if now_ms - unwanted <= UNWANTED_FOR_MS and unwanted < earliest:
                watch.blind_from_ms, watch.reason = unwanted, Reason.UNTRACKED
            self._watches[address] = watch
        self._inherited_from_ms, self._last_event_ms = None, {}

    def socket_of(self, address: str) -> str | None:
        """The socket whose confirmed list carries ``address``, if any."""
        watch = self._watches.get(address)
        return watch.socket if watch is not None else None

    def confirmed(self, socket: str, addresses: Iterable[str], now_ms: int) -> list[AddressGap]:
        """``socket``'s reply confirms it tracks exactly ``addresses``; the blind intervals that end now."""
        listed = set(addresses)
        gaps: list[AddressGap] = []
        for address in listed:
            watch = self._watches.get(address)
            if watch is None:
                continue
            if watch.blind_from_ms is not None:
                gaps.append(AddressGap(address, watch.blind_from_ms, now_ms, watch.reason))
            watch.socket, watch.blind_from_ms = socket, None
        for address, watch in self._watches.items():
            if watch.socket == socket and address not in listed:
                self._blind(watch, now_ms, Reason.INTERRUPTED)
        return gaps

    def lost(self, socket: str, now_ms: int, reason: str) -> None:
        """``socket`` tracks nothing any more (it dropped, or the upstream cleared its list)."""
        for watch in self._watches.values():
            if watch.socket == socket:
                self._blind(watch, now_ms, reason)

    @staticmethod
    def _blind(watch: _Watch, now_ms: int, reason: str) -> None:
        watch.socket, watch.blind_from_ms, watch.reason = None, now_ms, reason
