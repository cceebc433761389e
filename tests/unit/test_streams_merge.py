"""Several topics' history pages merged into one stream page (pure)."""

from __future__ import annotations

from mcp_gateway.streams import merged_page
from shared.bus.base import HistoryPage, Position
from shared.events import Event, Publication

POSITION = Position("e1", 100)


def page(topic: str, ids: list[int], *, more: bool = False, gap: bool = False) -> HistoryPage:
    events = [Event.from_publication(Publication("mainnet", topic, {}, n), n) for n in ids]
    return HistoryPage(events=events, gap=gap, has_more=more, position=POSITION)


def test_pages_merge_in_id_order() -> None:
    merged = merged_page([page("address:a", [3, 7]), page("address:b", [1, 5, 9])])
    assert [event.seq for event in merged.events] == [1, 3, 5, 7, 9]
    assert not merged.has_more and not merged.gap and merged.position == POSITION


def test_a_page_with_more_bounds_the_merge_at_its_last_id() -> None:
    merged = merged_page([page("address:a", [2, 4], more=True), page("address:b", [1, 3, 5, 6], gap=True)])
    assert [event.seq for event in merged.events] == [1, 2, 3, 4], "5 and 6 wait until a's next page is read"
    assert merged.has_more and merged.gap
