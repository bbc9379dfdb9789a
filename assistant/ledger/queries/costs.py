"""Costs: per run and where the money goes (stage x model), aggregated in DuckDB, and the calls
themselves for an export. The tenant is always bound, never formatted in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.ledger.queries.runs import _arrow

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

COST_STAGES: tuple[str, ...] = ("stt", "vision", "llm", "retrieval")
"""Stages the cost breakdown always lists, in this order (others follow, sorted)."""

_COST_BY_RUN_SQL = """
WITH spent AS (
    SELECT run_id, count(*) AS calls, sum(cost_usd) AS total_cost_usd
    FROM calls {where} GROUP BY run_id
)
SELECT r.run_id, r.started_at, r.tenant, r.dataset_name, r.media_duration_s,
    coalesce(s.calls, 0) AS calls,
    coalesce(s.total_cost_usd, 0.0) AS total_cost_usd,
    CASE WHEN r.media_duration_s > 0
        THEN coalesce(s.total_cost_usd, 0.0) / r.media_duration_s * 3600 END
        AS cost_per_media_hour_usd
FROM runs AS r
LEFT JOIN spent AS s ON s.run_id = r.run_id
{where_r}
ORDER BY r.started_at, r.run_id
"""

_COST_BY_STAGE_MODEL_SQL = """
SELECT stage, provider || ':' || coalesce(model_resolved, model_requested) AS model,
    count(*) AS calls, sum(cost_usd) AS cost_usd
FROM calls {where}
GROUP BY ALL
"""


@dataclass(frozen=True, slots=True)
class CostDashboard:
    """Cost figures for one tenant (or all), aggregated in DuckDB: ``runs`` (cost per media hour
    by run), ``by_stage``, ``by_model`` and ``where`` (stage x model, with its share of the total).
    The same figures as the Costs page, without reading the calls themselves."""

    runs: pd.DataFrame
    by_stage: pd.DataFrame
    by_model: pd.DataFrame
    where: pd.DataFrame
    total_cost_usd: float


def cost_dashboard(ledger: Ledger, tenant: str | None = None) -> CostDashboard:
    """Cost per media hour by run, and where the money goes by stage and model; one scan of
    ``calls`` per table, whatever the ledger's size (the tenant is bound, never formatted in)."""
    params = {"tenant": tenant} if tenant else None
    where = "WHERE tenant = $tenant" if tenant else ""
    where_r = "WHERE r.tenant = $tenant" if tenant else ""
    runs = _arrow(ledger, _COST_BY_RUN_SQL.format(where=where, where_r=where_r), params).to_pandas()
    cells = _arrow(ledger, _COST_BY_STAGE_MODEL_SQL.format(where=where), params).to_pandas()
    cells = cells.astype({"calls": "int64", "cost_usd": "float64"})
    total = float(cells["cost_usd"].sum()) if not cells.empty else 0.0
    by_stage = cells.groupby("stage", as_index=False).agg(
        calls=("calls", "sum"), cost_usd=("cost_usd", "sum")
    )
    stages = list(COST_STAGES) + sorted(set(by_stage["stage"]) - set(COST_STAGES))
    by_stage = (
        by_stage.set_index("stage")
        .reindex(stages, fill_value=0)
        .rename_axis("stage")
        .reset_index()
        .astype({"calls": "int64", "cost_usd": "float64"})
    )
    by_model = (
        cells.groupby("model", as_index=False)
        .agg(calls=("calls", "sum"), cost_usd=("cost_usd", "sum"))
        .sort_values(["cost_usd", "model"], ascending=[False, True], ignore_index=True)
    )
    spent = cells.sort_values(
        ["cost_usd", "stage", "model"], ascending=[False, True, True], ignore_index=True
    )[["stage", "model", "calls", "cost_usd"]]
    spent["share"] = spent["cost_usd"] / total if total > 0 else 0.0
    return CostDashboard(
        runs=runs, by_stage=by_stage, by_model=by_model, where=spent, total_cost_usd=total
    )


_COST_CALLS_SQL = """
SELECT c.*, c.provider || ':' || coalesce(c.model_resolved, c.model_requested) AS model,
    q.asker AS participant
FROM calls AS c
LEFT JOIN requests AS q ON q.request_id = c.request_id
{where}
ORDER BY c.created_at, c.call_id
"""


def _tenant_query(ledger: Ledger, sql: str, tenant: str | None, *, column: str) -> Any:
    """Run ``sql`` with ``{where}`` filled by a fixed clause; the tenant is always bound."""
    if tenant:
        where, params = f"WHERE {column} = $tenant", {"tenant": tenant}
    else:
        where, params = "", None
    return ledger.cursor().sql(sql.format(where=where), params=params).to_arrow_table().to_pandas()


def tenant_calls(ledger: Ledger, tenant: str | None = None) -> pd.DataFrame:
    """Every call of one tenant (or all, for None), with ``model`` = provider:model."""
    frame: pd.DataFrame = _tenant_query(ledger, _COST_CALLS_SQL, tenant, column="c.tenant")
    return frame


UNTIED = "(not tied to a question)"
"""The participant row of calls no question paid for (transcription of the whole room)."""

_COST_BY_PARTICIPANT_SQL = """
SELECT c.tenant,
    CASE WHEN c.request_id IS NULL OR q.request_id IS NULL THEN $untied
        ELSE coalesce(nullif(q.asker, ''), '(unknown)') END AS participant,
    count(DISTINCT q.request_id) AS requests,
    count(*) AS calls,
    sum(c.cost_usd) AS cost_usd
FROM calls AS c
LEFT JOIN requests AS q ON q.request_id = c.request_id
{where}
GROUP BY ALL
ORDER BY cost_usd DESC, c.tenant, participant
"""


def cost_by_participant(ledger: Ledger, tenant: str | None = None) -> pd.DataFrame:
    """Spend per participant (who asked) within each tenant: the calls of their questions, with
    the calls no question paid for (transcription) on a row of their own, so the rows add up to
    the tenant's total. Columns: tenant, participant, requests, calls, cost_usd, share (of the
    tenant's spend)."""
    params: dict[str, Any] = {"untied": UNTIED}
    where = ""
    if tenant:
        where, params["tenant"] = "WHERE c.tenant = $tenant", tenant
    frame = _arrow(ledger, _COST_BY_PARTICIPANT_SQL.format(where=where), params).to_pandas()
    frame = frame.astype({"requests": "int64", "calls": "int64", "cost_usd": "float64"})
    totals = frame.groupby("tenant")["cost_usd"].transform("sum")
    frame["share"] = (frame["cost_usd"] / totals.where(totals > 0)).fillna(0.0)
    return frame
