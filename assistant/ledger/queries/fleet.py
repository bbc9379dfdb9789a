"""The fleet: every run in progress anywhere (any worker, any machine writing this ledger or lake),
with its totals so far, read in one query for a panel that refreshes every few seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

FLEET_SQL = """
WITH live AS (
    SELECT run_id FROM runs WHERE status = 'running'
), req AS (
    SELECT run_id, count(*) AS requests,
        count(*) FILTER (WHERE tier = 'premium') AS premium_requests
    FROM requests WHERE run_id IN (SELECT run_id FROM live) GROUP BY run_id
), cost AS (
    SELECT run_id, sum(cost_usd) AS cost_usd
    FROM calls WHERE run_id IN (SELECT run_id FROM live) GROUP BY run_id
)
SELECT r.run_id, coalesce(r.worker, '') AS worker, r.tenant, r.room, r.source_kind,
    coalesce(r.media_processed_s, 0.0) AS media_s,
    coalesce(req.requests, 0) AS requests,
    req.premium_requests::DOUBLE / nullif(req.requests, 0) AS premium_share,
    coalesce(cost.cost_usd, 0.0) AS cost_usd,
    CASE WHEN r.media_processed_s > 0
        THEN coalesce(cost.cost_usd, 0.0) / (r.media_processed_s / 3600.0) END
        AS cost_per_media_hour_usd,
    r.config_json,
    coalesce(r.heartbeat_at, r.started_at) AS last_heartbeat_at,
    epoch(now()) - epoch(coalesce(r.heartbeat_at, r.started_at)) AS heartbeat_age_s
FROM runs AS r
LEFT JOIN req USING (run_id)
LEFT JOIN cost USING (run_id)
WHERE r.status = 'running'
ORDER BY r.tenant, r.room, r.run_id
"""


def fleet_runs(ledger: Ledger) -> pd.DataFrame:
    """One row per running run: worker, tenant, room, media seconds reached, requests, premium
    share, cost so far, cost per media hour, its configuration and its last heartbeat (time and
    age in seconds, by the ledger's clock)."""
    frame: pd.DataFrame = ledger.cursor().sql(FLEET_SQL).to_arrow_table().to_pandas()
    return frame
