"""Tier outcomes of ``--both-tiers`` runs: per request and tier, and pivoted for the sweeps.

A request has two outcomes (cheap, premium) and, when it needs the screen and was recorded since
migration 9, two more where vision and answer take different tiers (``vision_tier``,
``llm_tier``). Rows from before migration 9 have neither column: their vision tier is their tier.

With a price ``scenario`` (``assistant.pricing``), each combination's cost is the projected cost of
its vision call on its vision tier plus its answer call on its answer tier (``projections``);
quality and latency stay as measured. A mixed combination's answer is projected from the inputs
recorded for that answer tier (its screen text may be the other vision tier's: an approximation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.core.errors import LedgerError
from assistant.ledger.queries.labels import effective, with_label_quality

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

# Projected cost per (request, stage, tier); one value even where several recorded inputs of the
# request (its --both-tiers combinations) projected the same stage on the same tier.
_PROJECTED = (
    "SELECT request_id, stage, tier, max(cost_usd) AS cost_usd FROM projections "
    "WHERE run_id = $run_id AND scenario = $scenario AND stage IN ('vision', 'llm') "
    "GROUP BY request_id, stage, tier"
)
# Without a scenario the CTE is empty and the measured cost is read.
_NO_PROJECTION = (
    "SELECT NULL::VARCHAR AS request_id, NULL::VARCHAR AS stage, NULL::VARCHAR AS tier, "
    "NULL::DOUBLE AS cost_usd WHERE false"
)
_PROJECTED_COST = "coalesce(pv.cost_usd, 0.0) + coalesce(pl.cost_usd, 0.0)"
_PROJECTED_JOINS = """
LEFT JOIN projected AS pv ON pv.request_id = o.request_id AND pv.stage = 'vision'
    AND pv.tier = coalesce(o.vision_tier, o.llm_tier, o.tier)
LEFT JOIN projected AS pl ON pl.request_id = o.request_id AND pl.stage = 'llm'
    AND pl.tier = coalesce(o.llm_tier, o.tier)"""

_TIER_OUTCOMES_SQL = """
WITH projected AS ({projected})
SELECT o.request_id, q.score, q.media_t_s, o.tier, o.latency_ms, {cost} AS cost_usd,
    {quality} AS quality, o.status, o.cached
FROM tier_outcomes AS o
JOIN requests AS q ON q.request_id = o.request_id AND q.run_id = o.run_id
LEFT JOIN label_quality AS lq
    ON lq.run_id = o.run_id AND lq.request_id = o.request_id AND lq.tier = o.tier{joins}
WHERE o.run_id = $run_id AND (o.vision_tier IS NULL OR o.vision_tier = o.llm_tier)
ORDER BY q.media_t_s, o.request_id, o.tier
"""


def _cost_source(
    ledger: Ledger, run_id: str, scenario: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(SQL pieces, extra parameters) for measured costs, or a scenario's projected ones."""
    if scenario is None:
        return {"projected": _NO_PROJECTION, "cost": "o.cost_usd", "joins": ""}, {}
    from assistant.ledger.queries.projection import check_projected

    check_projected(ledger, run_id, scenario)
    pieces = {"projected": _PROJECTED, "cost": _PROJECTED_COST, "joins": _PROJECTED_JOINS}
    return pieces, {"scenario": scenario}


def run_tier_outcomes(ledger: Ledger, run_id: str, *, scenario: str | None = None) -> pd.DataFrame:
    """Each tier's outcome per request of a ``--both-tiers`` run, with the request's score
    (quality as labels make it: :mod:`.labels`): the two outcomes where vision and answer share
    the tier (one threshold), not the mixed combinations (:func:`tier_outcomes_wide` has all).
    With ``scenario``, each outcome's cost is its projected cost under that price scenario."""
    pieces, extra = _cost_source(ledger, run_id, scenario)
    sql = _TIER_OUTCOMES_SQL.format(quality=effective("quality", stored="o"), **pieces)
    with with_label_quality(ledger, run_id) as cur:
        frame: pd.DataFrame = (
            cur.sql(sql, params={"run_id": run_id, **extra}).to_arrow_table().to_pandas()
        )
    return frame


# Every combination's outcome per request, pivoted by DuckDB (one row per request). ``cheap`` and
# ``premium`` are the outcomes where vision and answer share the tier (the one-threshold sweep);
# ``vcheap_lpremium`` and ``vpremium_lcheap`` the mixed ones of a question that needs the screen
# (the two-threshold grid). Counts per combination let the caller refuse a run where a request
# lacks one or has one twice. The vision score is the answer's score for one-decision rows.
_COMBINATIONS = {
    "cheap": ("cheap", "cheap"),
    "premium": ("premium", "premium"),
    "vcheap_lpremium": ("cheap", "premium"),
    "vpremium_lcheap": ("premium", "cheap"),
}


def _combination_columns(name: str, vision: str, llm: str) -> str:
    where = f"FILTER (WHERE vision = '{vision}' AND llm = '{llm}')"
    return f"count(*) {where} AS n_{name}, " + ", ".join(
        f"any_value({column}) {where} AS {short}_{name}"
        for column, short in (
            ("cost_usd", "cost"),
            ("quality", "quality"),
            ("latency_ms", "latency"),
            ("abstained", "abstained"),
        )
    )


_WIDE_COLUMNS = ",\n        ".join(
    _combination_columns(name, vision, llm) for name, (vision, llm) in _COMBINATIONS.items()
)
_WIDE_SQL = (
    """
WITH projected AS ({projected}), eff AS (
    SELECT o.request_id, coalesce(o.llm_tier, o.tier) AS llm,
        coalesce(o.vision_tier, o.llm_tier, o.tier) AS vision,
        {cost} AS cost_usd, o.latency_ms, {quality} AS quality,
        (o.status = 'abstained')::DOUBLE AS abstained
    FROM tier_outcomes AS o
    LEFT JOIN label_quality AS lq
        ON lq.run_id = o.run_id AND lq.request_id = o.request_id AND lq.tier = o.tier{joins}
    WHERE o.run_id = $run_id
), wide AS (
    SELECT request_id,
        count(*) FILTER (WHERE llm NOT IN ('cheap', 'premium')
            OR vision NOT IN ('cheap', 'premium')) AS n_other,
        """
    + _WIDE_COLUMNS.replace("{", "{{").replace("}", "}}")
    + """
    FROM eff
    GROUP BY request_id
)
SELECT q.score, CASE WHEN q.needs_screen THEN coalesce(q.vision_score, q.score) END
        AS vision_score,
    q.needs_screen::DOUBLE AS needs_screen, wide.* EXCLUDE (request_id)
FROM wide
JOIN requests AS q ON q.request_id = wide.request_id AND q.run_id = $run_id
"""
)


def tier_outcomes_wide(
    ledger: Ledger, run_id: str, *, scenario: str | None = None
) -> Any:  # pyarrow.Table
    """One row per request of ``run_id``: its ``score`` (the answer's), ``vision_score`` (NULL
    when it does not need the screen), ``needs_screen`` (1.0 / 0.0), and each combination's
    count, cost, quality, latency and abstention (1.0 when the answer declined) (``n_cheap``,
    ``cost_cheap``, ..., ``latency_premium``, ``abstained_premium``,
    and ``..._vcheap_lpremium``, ``..._vpremium_lcheap`` for the mixed ones), as an Arrow table;
    quality as labels make it (:mod:`.labels`); with ``scenario``, costs are projected ones. The
    one query both sweeps read."""
    pieces, extra = _cost_source(ledger, run_id, scenario)
    sql = _WIDE_SQL.format(quality=effective("quality", stored="o"), **pieces)
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


def run_routing_split(ledger: Ledger, run_id: str) -> bool:
    """Whether the run's config drew its vision decision apart from the answer's
    (``routing.vision_threshold`` or ``routing.vision_scorer`` set); False for older runs."""
    rows = (
        ledger.cursor()
        .execute(
            "SELECT json_extract(config_json, '$.routing.vision_threshold'), "
            "json_extract(config_json, '$.routing.vision_scorer') FROM runs "
            "WHERE run_id = ? AND json_valid(config_json)",
            [run_id],
        )
        .fetchall()
    )
    if not rows:
        return False
    return any(value is not None and str(value) != "null" for value in rows[0])
