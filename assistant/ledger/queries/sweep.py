"""Tier outcomes of ``--both-tiers`` runs: per request and tier, and pivoted for the sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.core.errors import LedgerError
from assistant.ledger.queries.labels import effective, with_label_quality

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

_TIER_OUTCOMES_SQL = """
WITH projected AS ({projected})
SELECT o.request_id, q.score, q.media_t_s, o.tier, o.latency_ms, {cost} AS cost_usd,
    {quality} AS quality, o.status, o.cached
FROM tier_outcomes AS o
JOIN requests AS q ON q.request_id = o.request_id AND q.run_id = o.run_id
LEFT JOIN label_quality AS lq
    ON lq.run_id = o.run_id AND lq.request_id = o.request_id AND lq.tier = o.tier
LEFT JOIN projected AS pj ON pj.request_id = o.request_id AND pj.tier = o.tier
WHERE o.run_id = $run_id
ORDER BY q.media_t_s, o.request_id, o.tier
"""
# Without a scenario the CTE is empty and the measured cost is read; with one, each tier's
# cost is its projected vision and answer calls (quality and latency stay as measured).
_NO_PROJECTION = "SELECT NULL::VARCHAR AS request_id, NULL::VARCHAR AS tier, NULL::DOUBLE AS cost_usd WHERE false"


def _cost_source(ledger: Ledger, run_id: str, scenario: str | None) -> tuple[str, str, dict[str, str]]:
    """(projected CTE, cost expression, extra parameters) for measured or projected costs."""
    if scenario is None:
        return _NO_PROJECTION, "o.cost_usd", {}
    from assistant.ledger.queries.projection import check_projected, projected_tier_costs_sql

    check_projected(ledger, run_id, scenario)
    return projected_tier_costs_sql(), "coalesce(pj.cost_usd, 0.0)", {"scenario": scenario}


def run_tier_outcomes(ledger: Ledger, run_id: str, *, scenario: str | None = None) -> pd.DataFrame:
    """Each tier's outcome per request of a ``--both-tiers`` run, with the request's score
    (quality as labels make it: :mod:`.labels`); with ``scenario``, each tier's cost is its
    projected cost under that price scenario instead of the measured one."""
    projected, cost, extra = _cost_source(ledger, run_id, scenario)
    sql = _TIER_OUTCOMES_SQL.format(
        quality=effective("quality", stored="o"), projected=projected, cost=cost
    )
    with with_label_quality(ledger, run_id) as cur:
        frame: pd.DataFrame = (
            cur.sql(sql, params={"run_id": run_id, **extra}).to_arrow_table().to_pandas()
        )
    return frame


# Both tiers' outcomes per request, pivoted by DuckDB (one row per request). Counts per tier let
# the caller refuse a run where a request lacks a tier or has one twice.
_WIDE_SQL = """
WITH projected AS ({projected}), eff AS (
    SELECT o.request_id, o.tier, {cost} AS cost_usd, o.latency_ms, {quality} AS quality
    FROM tier_outcomes AS o
    LEFT JOIN label_quality AS lq
        ON lq.run_id = o.run_id AND lq.request_id = o.request_id AND lq.tier = o.tier
    LEFT JOIN projected AS pj ON pj.request_id = o.request_id AND pj.tier = o.tier
    WHERE o.run_id = $run_id
), wide AS (
    SELECT request_id,
        count(*) FILTER (WHERE tier = 'cheap') AS n_cheap,
        count(*) FILTER (WHERE tier = 'premium') AS n_premium,
        count(*) FILTER (WHERE tier NOT IN ('cheap', 'premium')) AS n_other,
        any_value(cost_usd) FILTER (WHERE tier = 'cheap') AS cost_cheap,
        any_value(cost_usd) FILTER (WHERE tier = 'premium') AS cost_premium,
        any_value(quality) FILTER (WHERE tier = 'cheap') AS quality_cheap,
        any_value(quality) FILTER (WHERE tier = 'premium') AS quality_premium,
        any_value(latency_ms) FILTER (WHERE tier = 'cheap') AS latency_cheap,
        any_value(latency_ms) FILTER (WHERE tier = 'premium') AS latency_premium
    FROM eff
    GROUP BY request_id
)
SELECT q.score, wide.* EXCLUDE (request_id)
FROM wide
JOIN requests AS q ON q.request_id = wide.request_id AND q.run_id = $run_id
"""


def tier_outcomes_wide(
    ledger: Ledger, run_id: str, *, scenario: str | None = None
) -> Any:  # pyarrow.Table
    """One row per request of ``run_id``: its score, and each tier's count, cost, quality and
    latency (``n_cheap``, ``cost_cheap``, ..., ``latency_premium``), as an Arrow table; quality
    as labels make it (:mod:`.labels`); with ``scenario``, costs are projected ones."""
    projected, cost, extra = _cost_source(ledger, run_id, scenario)
    sql = _WIDE_SQL.format(quality=effective("quality", stored="o"), projected=projected, cost=cost)
    with with_label_quality(ledger, run_id) as cur:
        return cur.sql(sql, params={"run_id": run_id, **extra}).to_arrow_table()


def run_media_duration_s(ledger: Ledger, run_id: str) -> float | None:
    """A run's media duration (None when unknown); LedgerError if there is no such run."""
    found = (
        ledger.cursor()
        .execute("SELECT media_duration_s FROM runs WHERE run_id = ?", [run_id])
        .fetchall()
    )
    if not found:
        raise LedgerError(f"run {run_id} does not exist in {ledger.label}")
    duration: float | None = found[0][0]
    return duration


def runs_with_tier_outcomes(ledger: Ledger) -> set[str]:
    """The runs that recorded both tiers' outcomes."""
    rows = ledger.cursor().execute("SELECT DISTINCT run_id FROM tier_outcomes").fetchall()
    return {row[0] for row in rows}
