"""Spreading addresses over upstream sockets: a pure function, stable across updates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Assignment:
    """Address lists per socket slot (same order as the input slots, then new ones) and what did not fit."""

    lists: list[list[str]]
    rejected: list[str]


def assign(current: Sequence[Sequence[str]], desired: set[str], per_socket: int, max_sockets: int) -> Assignment:
    """Place ``desired`` on sockets holding at most ``per_socket`` each, using at most ``max_sockets``.

    Addresses already placed stay where they are (so a change re-sends as few lists as possible);
    addresses no longer desired leave; new ones fill free room first, then new sockets. What does not
    fit is rejected, in sorted order. Empty lists are kept in place; the caller closes those sockets.
    """
    lists: list[list[str]] = []
    placed: set[str] = set()
    overflow: list[str] = []
    for addresses in current[:max_sockets]:
        kept: list[str] = []
        for address in addresses:
            if address in desired and address not in placed:
                placed.add(address)
                kept.append(address)
        overflow += kept[per_socket:]
        lists.append(kept[:per_socket])
    pending = overflow + sorted(desired - placed)
    for placed_list in lists:
        room = per_socket - len(placed_list)
        if room > 0 and pending:
            placed_list.extend(pending[:room])
            pending = pending[room:]
    while pending and len(lists) < max_sockets:
        lists.append(pending[:per_socket])
        pending = pending[per_socket:]
    return Assignment(lists=lists, rejected=sorted(pending))
