"""Where each wanted address is tracked upstream, and since when it is not (so the gap can be announced).

An address is *covered* from the moment a socket's reply confirms the list that carries it, and *blind*
from the moment its socket drops, its socket's confirmed list no longer carries it (it moved), or the
upstream cleared the list. When a socket confirms it again, the blind interval becomes a gap notice. On
a takeover, every address wanted at the first lease read is blind since its last published event (or
the previous leader's last activity): the new leader's sockets are new, but for its consumers they are
reconnects.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from ingestor.core.work import Reason


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

    def inherit(self, since_ms: int, last_event_ms: Mapping[str, int] | None = None) -> None:
        """This replica takes over: each address of the next :meth:`wanted` call is blind since its last
        published event (``last_event_ms``), or else since ``since_ms``."""
        self._inherited_from_ms = since_ms
        self._last_event_ms = dict(last_event_ms or {})

    def wanted(self, addresses: Collection[str]) -> None:
        """The addresses to track from now on (those no longer wanted are forgotten)."""
        for address in [a for a in self._watches if a not in addresses]:
            del self._watches[address]
        inherited, last = self._inherited_from_ms, self._last_event_ms
        for address in addresses:
            if address not in self._watches:
                since = last.get(address, inherited) if inherited is not None else None
                self._watches[address] = _Watch(blind_from_ms=since, reason=Reason.TAKEOVER)
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
