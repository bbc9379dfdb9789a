"""A live (or just-finished) run: its latest frames, utterances and questions, and its totals so
far, read cheaply enough for a panel that refreshes every second."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

_LATEST_SQL = {
    "frames": "SELECT media_t_s, reason, change_score, frame_hash FROM frames "
    "WHERE run_id = $run_id ORDER BY media_t_s DESC LIMIT $n",
    "utterances": "SELECT start_s, end_s, participant, text FROM utterances "
    "WHERE run_id = $run_id ORDER BY start_s DESC LIMIT $n",
    "questions": "SELECT media_t_s, asker, question, tier, score, router, threshold, "
    "llm_model_resolved, vision_model_resolved, total_latency_ms, total_cost_usd, status, answer "
    "FROM requests WHERE run_id = $run_id ORDER BY media_t_s DESC LIMIT $n",
}
LATEST_TABLES: tuple[str, ...] = tuple(_LATEST_SQL)
_TOTALS_SQL = """
SELECT r.status, r.source_ref, r.source_kind, r.media_duration_s, r.media_processed_s,
    (SELECT coalesce(sum(cost_usd), 0.0) FROM calls WHERE run_id = $run_id) AS cost_usd,
    (SELECT count(*) FROM calls WHERE run_id = $run_id) AS calls,
    (SELECT count(*) FROM requests WHERE run_id = $run_id) AS requests,
    greatest(
        (SELECT max(media_t_s) FROM calls WHERE run_id = $run_id),
        (SELECT max(end_s) FROM utterances WHERE run_id = $run_id),
        (SELECT max(media_t_s) FROM frames WHERE run_id = $run_id)
    ) AS media_seen_s
FROM runs AS r WHERE r.run_id = $run_id
"""


def live_totals(ledger: Ledger, run_id: str) -> dict[str, Any] | None:
    """Status, source, media durations, ``cost_usd``, ``calls``, ``requests`` and
    ``media_seen_s`` (the latest media time in any table) of a run; None if there is no such run."""
    rows = ledger.cursor().sql(_TOTALS_SQL, params={"run_id": run_id}).to_arrow_table().to_pylist()
    return dict(rows[0]) if rows else None


def latest_rows(ledger: Ledger, run_id: str, table: str, n: int) -> pd.DataFrame:
    """The ``n`` latest rows of ``table`` (one of :data:`LATEST_TABLES`), oldest first."""
    sql = _LATEST_SQL[table]
    arrow = ledger.cursor().sql(sql, params={"run_id": run_id, "n": n}).to_arrow_table()
    frame: pd.DataFrame = arrow.to_pandas().iloc[::-1].reset_index(drop=True)
    return frame
