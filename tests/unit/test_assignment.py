"""Spreading addresses over sockets (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingestor.upstream.assignment import assign


def test_twenty_five_addresses_fill_three_sockets_of_ten() -> None:
    result = assign([], {f"a{n:02}" for n in range(25)}, per_socket=10, max_sockets=50)
    assert [len(addresses) for addresses in result.lists] == [10, 10, 5] and result.rejected == []


def test_placed_addresses_stay_put_and_new_ones_fill_free_room_first() -> None:
    current = [["a", "b", "c"], ["d", "e"]]
    result = assign(current, {"a", "c", "d", "e", "x", "y"}, per_socket=3, max_sockets=5)
    assert result.lists == [["a", "c", "x"], ["d", "e", "y"]]


def test_what_does_not_fit_is_rejected_in_sorted_order() -> None:
    result = assign([], {"e", "d", "c", "b", "a"}, per_socket=2, max_sockets=2)
    assert result.lists == [["a", "b"], ["c", "d"]] and result.rejected == ["e"]


def test_a_lower_limit_moves_the_overflow_to_other_sockets() -> None:
    result = assign([["a", "b", "c", "d"]], {"a", "b", "c", "d"}, per_socket=2, max_sockets=3)
    assert result.lists == [["a", "b"], ["c", "d"]]


def test_emptied_sockets_keep_their_place() -> None:
    result = assign([["a"], ["b"]], {"b"}, per_socket=2, max_sockets=2)
    assert result.lists == [[], ["b"]]


@given(
    current=st.lists(st.lists(st.sampled_from("abcdefghijklmnop"), max_size=6), max_size=5),
    desired=st.sets(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), max_size=26),
    per_socket=st.integers(1, 8),
    max_sockets=st.integers(0, 6),
)
def test_every_desired_address_is_placed_once_or_rejected(
    current: list[list[str]], desired: set[str], per_socket: int, max_sockets: int
) -> None:
    result = assign(current, desired, per_socket, max_sockets)
    placed = [address for addresses in result.lists for address in addresses]
    assert len(placed) == len(set(placed))
    assert set(placed) | set(result.rejected) == desired and not set(placed) & set(result.rejected)
    assert all(len(addresses) <= per_socket for addresses in result.lists)
    assert len(result.lists) <= max(max_sockets, 0)
    assert not result.rejected or len(placed) == per_socket * max_sockets
