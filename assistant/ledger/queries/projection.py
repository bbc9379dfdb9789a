"""Projected costs (``projections``, ``request_inputs``): reads for the Costs page, the sweep and
the seed comparison, and the one write that replaces a run's projection under a scenario.

A projection is never mixed with a measured cost: measured figures come from ``calls`` (and
``tier_outcomes``), projected ones from ``projections`` only, and every frame here says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.errors import LedgerError
from assistant.ledger.records import ProjectionRecord, RequestInputRecord

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger


def project_hint(run_id: str, scenario: str) -> str:
    return (
        f"run {run_id} has no projection under scenario {scenario!r}: "
        f"python -m assistant project --run {run_id} --scenario {scenario}"
    )


def run_request_inputs(ledger: Ledger, run_id: str) -> list[RequestInputRecord]:
    """Every tier's recorded cloud-adapter inputs of ``run_id``, in request order."""
    rows = ledger.cursor().execute(
        "SELECT i.* FROM request_inputs AS i "
        "LEFT JOIN requests AS q ON q.request_id = i.request_id AND q.run_id = i.run_id "
        "WHERE i.run_id = ? ORDER BY q.media_t_s, i.request_id, i.tier",
        [run_id],
    )
    names = [d[0] for d in rows.description]
    return [RequestInputRecord(**dict(zip(names, r, strict=True))) for r in rows.fetchall()]


def run_request_times(ledger: Ledger, run_id: str) -> dict[str, float]:
    rows = ledger.cursor().execute(
        "SELECT request_id, media_t_s FROM requests WHERE run_id = ?", [run_id]
    )
    return {str(r): float(t) for r, t in rows.fetchall()}


def run_transcription_audio(ledger: Ledger, run_id: str) -> list[tuple[float, float]]:
    """``(media_t_s, audio_s)`` of every transcription call of ``run_id`` that succeeded."""
    rows = ledger.cursor().execute(
        "SELECT media_t_s, audio_s FROM calls WHERE run_id = ? AND stage = 'stt' "
        "AND status = 'ok' ORDER BY media_t_s, call_id",
        [run_id],
    )
    return [(float(t), float(a)) for t, a in rows.fetchall()]


def replace_projection(
    ledger: Ledger, run_id: str, scenario: str, rows: list[ProjectionRecord]
) -> None:
    """``run_id``'s rows under ``scenario`` become ``rows``, in one transaction."""
    from assistant.ledger.store import insert_rows

    cur = ledger.cursor()
    cur.begin()
    try:
        cur.execute(
            "DELETE FROM projections WHERE run_id = ? AND scenario = ?", [run_id, scenario]
        ).fetchall()
        if rows:
            insert_rows(cur, "projections", list(rows))
        cur.commit()
    except Exception:
        cur.rollback()
        raise


_SCENARIOS_SQL = "SELECT DISTINCT scenario FROM projections ORDER BY scenario"
_RUN_SCENARIOS_SQL = (
    "SELECT DISTINCT scenario FROM projections WHERE run_id = ? ORDER BY scenario"
)


def run_scenarios(ledger: Ledger, run_id: str | None = None) -> list[str]:
    """Scenarios with projection rows (for one run, or any), sorted."""
    cur = ledger.cursor()
    rows = cur.execute(_RUN_SCENARIOS_SQL, [run_id]) if run_id else cur.execute(_SCENARIOS_SQL)
    return [str(r[0]) for r in rows.fetchall()]


_BY_STAGE_SQL = """
WITH projected AS (
    SELECT p.run_id, p.scenario, p.stage, p.model, count(*) AS calls,
        sum(p.cost_usd) AS cost_usd,
        string_agg(DISTINCT p.token_method, ', ' ORDER BY p.token_method) AS token_method
    FROM projections AS p
    JOIN runs AS r ON r.run_id = p.run_id
    WHERE p.routed {where}
    GROUP BY ALL
)
SELECT p.*, r.tenant, r.dataset_name, r.started_at, r.media_duration_s,
    CASE WHEN r.media_duration_s > 0 THEN p.cost_usd / r.media_duration_s * 3600 END
        AS cost_per_media_hour_usd
FROM projected AS p JOIN runs AS r ON r.run_id = p.run_id
ORDER BY r.started_at, p.run_id, p.scenario, p.stage, p.model
"""

_MEASURED_SQL = """
SELECT c.run_id, c.stage, sum(c.cost_usd) AS cost_usd,
    CASE WHEN any_value(r.media_duration_s) > 0
        THEN sum(c.cost_usd) / any_value(r.media_duration_s) * 3600 END AS cost_per_media_hour_usd
FROM calls AS c JOIN runs AS r ON r.run_id = c.run_id
{where}
GROUP BY ALL
ORDER BY c.run_id, c.stage
"""


def projected_by_stage(ledger: Ledger, tenant: str | None = None) -> pd.DataFrame:
    """Projected cost of each run's traffic (transcription and the routed tier) per scenario,
    stage and model: ``calls``, ``cost_usd``, ``cost_per_media_hour_usd``, ``token_method``."""
    params = {"tenant": tenant} if tenant else None
    sql = _BY_STAGE_SQL.format(where="AND r.tenant = $tenant" if tenant else "")
    frame: pd.DataFrame = ledger.cursor().sql(sql, params=params).to_arrow_table().to_pandas()
    return frame


def measured_by_stage(ledger: Ledger, tenant: str | None = None) -> pd.DataFrame:
    """What each run's calls were measured to cost per stage (and per media hour)."""
    params = {"tenant": tenant} if tenant else None
    sql = _MEASURED_SQL.format(where="WHERE c.tenant = $tenant" if tenant else "")
    frame: pd.DataFrame = ledger.cursor().sql(sql, params=params).to_arrow_table().to_pandas()
    return frame


def run_projection(ledger: Ledger, run_id: str, scenario: str) -> pd.DataFrame:
    """Every projection row of ``run_id`` under ``scenario``; LedgerError when there are none."""
    frame: pd.DataFrame = (
        ledger.cursor()
        .sql(
            "SELECT * FROM projections WHERE run_id = $run AND scenario = $scenario "
            "ORDER BY media_t_s, request_id, stage, tier",
            params={"run": run_id, "scenario": scenario},
        )
        .to_arrow_table()
        .to_pandas()
    )
    if frame.empty:
        raise LedgerError(project_hint(run_id, scenario))
    return frame


def run_projected_shared_cost_usd(ledger: Ledger, run_id: str, scenario: str) -> float:
    """The projected cost of the run's calls outside any request (transcription)."""
    rows = (
        ledger.cursor()
        .execute(
            "SELECT count(*), coalesce(sum(cost_usd) FILTER (WHERE request_id IS NULL), 0.0) "
            "FROM projections WHERE run_id = ? AND scenario = ?",
            [run_id, scenario],
        )
        .fetchall()
    )
    if not rows[0][0]:
        raise LedgerError(project_hint(run_id, scenario))
    return float(rows[0][1])


def check_projected(ledger: Ledger, run_id: str, scenario: str) -> None:
    """LedgerError (with the command that makes it) unless ``run_id`` was projected."""
    run_projected_shared_cost_usd(ledger, run_id, scenario)
