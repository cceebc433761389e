"""Gap notices for what Redis lost in a failover (:class:`~shared.bus.base.SequenceRegression`).

Redis replicates asynchronously: a master acknowledges events before its replica has them, and when
Sentinel promotes that replica the newest events are gone. The bus notices it on the next publish (the
id counter stands below ids it gave out), goes on above them and reports which topics had events among
the lost ids. Each of those topics gets a gap notice for the interval of its lost events, so a consumer
that missed them is told, while ids keep increasing in the same epoch.
"""

from __future__ import annotations

from shared.bus.base import SequenceRegression
from shared.events import Publication
from shared.models import GapInfo, GapNotice

REASON = "Redis failed over to a replica that lacked the newest events: events of this interval may be missing"


def regression_gaps(regression: SequenceRegression, now_ms: int) -> list[Publication]:
    """One gap notice per topic that may have lost events, oldest interval first."""
    ordered = sorted(regression.topics.items(), key=lambda item: (item[1], item[0]))
    return [
        Publication(
            regression.network,
            topic,
            GapNotice(gap=GapInfo(reason=REASON, from_ts_ms=start_ms, to_ts_ms=end_ms)).model_dump(mode="json"),
            now_ms,
        )
        for topic, (start_ms, end_ms) in ordered
    ]
