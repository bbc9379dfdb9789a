"""Reads for OpenTelemetry: one run's rows as plain dicts (every column), for ``export-otel``, and
the counts a receiver's tests and status compare. Values are always bound."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.core.errors import LedgerError

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger

_ORDER = {
    "runs": "run_id",
    "requests": "created_at, request_id",
    "calls": "created_at, call_id",
}


def _table_rows(ledger: Ledger, table: str, run_id: str) -> list[dict[str, Any]]:
    sql = f"SELECT * FROM {table} WHERE run_id = $run ORDER BY {_ORDER[table]}"  # literals only
    rows: list[dict[str, Any]] = (
        ledger.cursor().sql(sql, params={"run": run_id}).to_arrow_table().to_pylist()
    )
    return rows


def run_rows(
    ledger: Ledger, run_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The run row, its requests and its calls, every column; ``LedgerError`` for an unknown run."""
    runs = _table_rows(ledger, "runs", run_id)
    if not runs:
        raise LedgerError(
            f"no run {run_id!r} in ledger {ledger.label}; `python -m assistant runs` lists them"
        )
    return runs[0], _table_rows(ledger, "requests", run_id), _table_rows(ledger, "calls", run_id)


def run_totals(ledger: Ledger, run_id: str) -> tuple[int, int, float]:
    """(requests, calls, cost of every call in USD) of one run."""
    row = (
        ledger.cursor()
        .execute(
            "SELECT (SELECT count(*) FROM requests WHERE run_id = $run), "
            "(SELECT count(*) FROM calls WHERE run_id = $run), "
            "(SELECT coalesce(sum(cost_usd), 0.0) FROM calls WHERE run_id = $run)",
            {"run": run_id},
        )
        .fetchall()[0]
    )
    return int(row[0]), int(row[1]), float(row[2])


def run_ids_like(ledger: Ledger, prefix: str) -> list[str]:
    """Run ids starting with ``prefix`` (the receiver's runs), oldest first."""
    rows = (
        ledger.cursor()
        .execute(
            "SELECT run_id FROM runs WHERE starts_with(run_id, $p) ORDER BY started_at, run_id",
            {"p": prefix},
        )
        .fetchall()
    )
    return [str(r[0]) for r in rows]
