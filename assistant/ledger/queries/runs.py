"""Runs: the run list, one run's summary, its rows (requests, calls, frames, utterances) and
the few run columns the analyses read (source, media processed, explored requests).

Results are read through Arrow (``rel.to_arrow_table()``): DuckDB's own Python conversion of
TIMESTAMPTZ values needs pytz, which the workbench does not install. All values are bound.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assistant.core.errors import LedgerError
from assistant.ledger.queries.labels import effective, with_label_quality

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run's headline figures (costs in USD, latencies in ms, quality in [0, 1])."""

    run_id: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    error: str | None
    dataset_name: str | None
    tenant: str
    room: str
    threshold: float | None  # config_json's $.routing.threshold
    media_duration_s: float | None
    requests: int
    cheap_requests: int
    premium_requests: int
    premium_share: float | None  # None when the run has no requests
    errors: int  # requests with status 'error'
    calls: int
    total_cost_usd: float  # every call of the run, transcription included: what it paid now
    cost_per_media_hour_usd: float | None  # None when the media duration is unknown
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    mean_quality: float | None  # over the labelled requests (effective quality known)
    labelled: int  # requests whose quality is known (a reference, key facts or a grade)
    frames_kept: int
    utterances: int
    abstained: int = 0  # requests whose answer declined (status 'abstained'), not counted as ok
    answered_quality: float | None = None  # mean quality of the labelled requests that answered
    abstained_quality: float | None = None  # ... and of those that abstained
    cached_calls: int = 0  # calls answered from the call cache: no call made, nothing paid
    cost_if_paid_usd: float = 0.0  # what the run would cost if those were paid now too


RUN_LIST_COLUMNS: tuple[str, ...] = (
    "run_id",
    "started_at",
    "ended_at",
    "status",
    "dataset_name",
    "tenant",
    "room",
    "threshold",
    "requests",
    "premium_share",
    "total_cost_usd",
    "cost_if_paid_usd",
    "cached_calls",
    "cost_per_media_hour_usd",
    "p50_latency_ms",
    "p95_latency_ms",
    "mean_quality",
    "labelled",
    "abstained",
    "errors",
)

_RUNS_SQL = """
WITH eff AS (
    SELECT q.run_id, q.tier, q.status, q.total_latency_ms, {quality} AS quality
    FROM requests AS q
    LEFT JOIN label_quality AS lq
        ON lq.run_id = q.run_id AND lq.request_id = q.request_id AND lq.tier = q.tier
    {where_q}
), req AS (
    SELECT run_id,
        count(*) AS requests,
        count(*) FILTER (WHERE tier = 'cheap') AS cheap_requests,
        count(*) FILTER (WHERE tier = 'premium') AS premium_requests,
        count(*) FILTER (WHERE status = 'error') AS errors,
        count(*) FILTER (WHERE status = 'abstained') AS abstained,
        avg(quality) FILTER (WHERE status NOT IN ('abstained', 'error')) AS answered_quality,
        avg(quality) FILTER (WHERE status = 'abstained') AS abstained_quality,
        quantile_cont(total_latency_ms, 0.5) AS p50_latency_ms,
        quantile_cont(total_latency_ms, 0.95) AS p95_latency_ms,
        avg(quality) AS mean_quality,
        count(quality) AS labelled
    FROM eff GROUP BY run_id
), cost AS (
    SELECT run_id, count(*) AS calls, sum(cost_usd) AS total_cost_usd,
        count(*) FILTER (WHERE cached) AS cached_calls,
        sum(cost_usd + coalesce(original_cost_usd, 0.0)) AS cost_if_paid_usd
    FROM calls {where} GROUP BY run_id
), kept AS (
    SELECT run_id, count(*) AS frames_kept FROM frames {where} GROUP BY run_id
), said AS (
    SELECT run_id, count(*) AS utterances FROM utterances {where} GROUP BY run_id
)
SELECT r.run_id, r.started_at, r.ended_at, r.status, r.error, r.dataset_name, r.tenant, r.room,
    TRY_CAST(CASE WHEN json_valid(r.config_json)
        THEN json_extract_string(r.config_json, '$.routing.threshold') END AS DOUBLE) AS threshold,
    r.media_duration_s,
    coalesce(req.requests, 0) AS requests,
    coalesce(req.cheap_requests, 0) AS cheap_requests,
    coalesce(req.premium_requests, 0) AS premium_requests,
    req.premium_requests::DOUBLE / nullif(req.requests, 0) AS premium_share,
    coalesce(req.errors, 0) AS errors,
    coalesce(req.abstained, 0) AS abstained,
    req.answered_quality, req.abstained_quality,
    coalesce(cost.calls, 0) AS calls,
    coalesce(cost.total_cost_usd, 0.0) AS total_cost_usd,
    coalesce(cost.cached_calls, 0) AS cached_calls,
    coalesce(cost.cost_if_paid_usd, 0.0) AS cost_if_paid_usd,
    CASE WHEN coalesce(r.media_processed_s, r.media_duration_s) > 0
        THEN coalesce(cost.total_cost_usd, 0.0)
            / coalesce(r.media_processed_s, r.media_duration_s) * 3600 END
        AS cost_per_media_hour_usd,
    req.p50_latency_ms, req.p95_latency_ms, req.mean_quality,
    coalesce(req.labelled, 0) AS labelled,
    coalesce(kept.frames_kept, 0) AS frames_kept,
    coalesce(said.utterances, 0) AS utterances
FROM runs AS r
LEFT JOIN req ON req.run_id = r.run_id
LEFT JOIN cost ON cost.run_id = r.run_id
LEFT JOIN kept ON kept.run_id = r.run_id
LEFT JOIN said ON said.run_id = r.run_id
{where_r}
ORDER BY r.started_at DESC, r.run_id DESC
"""


def _arrow(ledger: Ledger, sql: str, params: dict[str, Any] | None = None) -> Any:
    return ledger.cursor().sql(sql, params=params).to_arrow_table()


def _runs_sql(*, one_run: bool) -> str:
    return _RUNS_SQL.format(
        quality=effective("quality", stored="q"),
        where_q="WHERE q.run_id = $run_id" if one_run else "",
        where="WHERE run_id = $run_id" if one_run else "",
        where_r="WHERE r.run_id = $run_id" if one_run else "",
    )


def list_runs(ledger: Ledger) -> pd.DataFrame:
    """One row per run, newest first, with its cost, latency and quality figures (mean quality
    over its ``labelled`` requests, labels included: :mod:`.labels`)."""
    with with_label_quality(ledger) as cur:
        frame: pd.DataFrame = cur.sql(_runs_sql(one_run=False)).to_arrow_table().to_pandas()
    return frame[list(RUN_LIST_COLUMNS)]


def run_summary(ledger: Ledger, run_id: str) -> RunSummary:
    """The figures of one run; LedgerError if the ledger has no such run."""
    with with_label_quality(ledger, run_id) as cur:
        rows = (
            cur.sql(_runs_sql(one_run=True), params={"run_id": run_id}).to_arrow_table().to_pylist()
        )
    if not rows:
        raise LedgerError(f"run {run_id} does not exist in {ledger.label}")
    names = {f.name for f in fields(RunSummary)}
    return RunSummary(**{k: v for k, v in rows[0].items() if k in names})


def _rows(ledger: Ledger, table: str, run_id: str, order: str) -> pd.DataFrame:
    sql = f"SELECT * FROM {table} WHERE run_id = $run_id ORDER BY {order}"
    frame: pd.DataFrame = _arrow(ledger, sql, {"run_id": run_id}).to_pandas()
    return frame


_REQUESTS_SQL = """
SELECT q.* REPLACE ({quality} AS quality, {f1} AS quality_f1, {facts} AS quality_key_facts)
FROM requests AS q
LEFT JOIN label_quality AS lq
    ON lq.run_id = q.run_id AND lq.request_id = q.request_id AND lq.tier = q.tier
WHERE q.run_id = $run_id
ORDER BY q.media_t_s, q.created_at, q.request_id
"""


def run_requests(ledger: Ledger, run_id: str) -> pd.DataFrame:
    """The run's requests in media order (empty for an unknown run), quality as labels make it."""
    sql = _REQUESTS_SQL.format(
        quality=effective("quality", stored="q"),
        f1=effective("quality_f1", stored="q"),
        facts=effective("quality_key_facts", stored="q"),
    )
    with with_label_quality(ledger, run_id) as cur:
        frame: pd.DataFrame = cur.sql(sql, params={"run_id": run_id}).to_arrow_table().to_pandas()
    return frame


def run_calls(ledger: Ledger, run_id: str) -> pd.DataFrame:
    """The run's provider calls in media order, transcription calls included."""
    return _rows(ledger, "calls", run_id, "media_t_s, created_at, call_id")


def run_frames(ledger: Ledger, run_id: str) -> pd.DataFrame:
    """The run's kept frames in media order."""
    return _rows(ledger, "frames", run_id, "media_t_s, track")


def run_utterances(ledger: Ledger, run_id: str) -> pd.DataFrame:
    """The run's transcript segments in media order."""
    return _rows(ledger, "utterances", run_id, "start_s, participant")


def run_shared_cost_usd(ledger: Ledger, run_id: str) -> float:
    """What the run's calls outside any request cost (transcription): the same at any threshold.
    As a request's cost, a call answered from the call cache counts at its cost if paid."""
    sql = (
        "SELECT coalesce(sum(cost_usd + coalesce(original_cost_usd, 0.0)), 0.0) FROM calls "
        "WHERE run_id = ? AND request_id IS NULL"
    )
    rows = ledger.cursor().execute(sql, [run_id]).fetchall()
    return float(rows[0][0])


def run_exists(ledger: Ledger, run_id: str) -> bool:
    """Does the ledger hold a run ``run_id``?"""
    found = ledger.cursor().execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id])
    return bool(found.fetchall()[0][0])


def run_source(ledger: Ledger, run_id: str) -> tuple[str | None, str | None, str | None] | None:
    """``(source_kind, source_ref, config_json)`` of a run, or None if there is no such run."""
    rows = (
        ledger.cursor()
        .execute("SELECT source_kind, source_ref, config_json FROM runs WHERE run_id = ?", [run_id])
        .fetchall()  # fetchall: DuckDB keeps a fetchone()'s result open on the connection
    )
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


def run_media_processed_s(ledger: Ledger, run_id: str) -> float | None:
    """The media an interrupted run got through (ledger migration 4), as the summary uses it."""
    sql = "SELECT media_processed_s FROM runs WHERE run_id = ?"
    rows = ledger.cursor().execute(sql, [run_id]).fetchall()
    value = rows[0][0] if rows else None
    return float(value) if value else None


def explored_counts(ledger: Ledger) -> dict[str, int]:
    """Explored requests (routed at random) per run, for the runs that have requests."""
    rows = (
        ledger.cursor()
        .execute("SELECT run_id, count(*) FILTER (WHERE explored) FROM requests GROUP BY run_id")
        .fetchall()
    )
    return {str(r): int(n) for r, n in rows}
