"""Daily housekeeping: retention (news items, observations), planner statistics, WAL checkpoint."""

from __future__ import annotations

import logging

from monitor.core.clock import Clock
from monitor.news.store import NewsStore
from monitor.ops.jobs import Runtime

log = logging.getLogger(__name__)


def housekeeping(runtime: Runtime, clock: Clock) -> dict[str, int]:
    """Daily: apply retention, refresh planner statistics, checkpoint the WAL."""
    now = clock.now()
    retention = runtime.config.sources.retention
    pruned = {"news_items": 0, "observations": 0}
    with runtime.open_store() as store:
        if retention.news_items is not None:
            pruned["news_items"] = NewsStore(store).prune(now - retention.news_items)
        if retention.observations is not None:
            pruned["observations"] = store.prune_observations((now - retention.observations).date())
        store.optimize()
        store.set_meta("last_housekeeping_at", now.isoformat())
    if any(pruned.values()):
        log.info("housekeeping: pruned %(news_items)d news items, %(observations)d observations",
                 pruned)
    return pruned
