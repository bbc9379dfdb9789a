"""Ledger benchmarks: batched appends against row-by-row inserts, the cost dashboard and the
threshold sweep over a synthetic ledger of a million requests.

The large ledger comes from ``assistant.ledger.synthetic`` (generated inside DuckDB from the record
dataclasses' fields); the append benchmark appends real ``CallRecord`` objects through
``Ledger.writer()``.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Callable
from pathlib import Path

from assistant.benchmarks.harness import Figure, timed_best
from assistant.ledger.records import CallRecord
from assistant.ledger.synthetic import (
    SyntheticLedger,
    build_ledger,
    every_call_and_run,
    insert_calls_one_by_one,
)

if typing.TYPE_CHECKING:
    from assistant.ledger import Ledger

SECTION = "ledger"


# --- appends ----------------------------------------------------------------------------------


def _call(i: int, run_id: str) -> CallRecord:
    stage = ("retrieval", "llm", "vision", "stt")[i % 4]
    return CallRecord(
        call_id=f"{run_id}:{i:08d}",
        run_id=run_id,
        request_id=None if stage == "stt" else f"{run_id}:q{i // 4}",
        tenant="acme",
        stage=stage,
        provider="local",
        model_requested="extractive-1",
        model_resolved="extractive-1",
        media_t_s=i * 0.5,
        latency_ms=12.5 + i % 7,
        ttft_ms=None,
        input_tokens=400 + i % 50,
        output_tokens=40 + i % 9,
        image_count=0,
        audio_s=0.0,
        compute_s=0.0125,
        cost_usd=3.5e-7,
        attempts=1,
        status="ok",
        error=None,
    )


def bench_appends(workdir: Path, *, quick: bool) -> list[Figure]:
    """``writer.append`` of real records (default batches, Arrow) against one INSERT per row."""
    from assistant.ledger import Ledger
    from assistant.ledger.store import DEFAULT_BATCH_ROWS

    batched_n = 20_000 if quick else 200_000
    row_n = 500 if quick else 3_000
    records = [_call(i, "bench") for i in range(batched_n)]

    def batched() -> float:
        path = workdir / f"append-batched-{time.perf_counter_ns()}.duckdb"
        with Ledger(path) as ledger:
            started = time.perf_counter()
            with ledger.writer() as writer:
                for record in records:
                    writer.append(record)
            elapsed = time.perf_counter() - started
        _remove(path)
        return elapsed

    def row_by_row() -> float:
        path = workdir / f"append-rows-{time.perf_counter_ns()}.duckdb"
        with Ledger(path) as ledger:
            started = time.perf_counter()
            insert_calls_one_by_one(ledger, records[:row_n])
            elapsed = time.perf_counter() - started
        _remove(path)
        return elapsed

    batched_s = min(batched() for _ in range(1 if quick else 2))
    rows_s = row_by_row()
    batched_rate = batched_n / batched_s
    row_rate = row_n / rows_s
    ratio = batched_rate / row_rate
    arrow_s = _arrow_seconds(records)
    limits = []
    if ratio < 50:
        limits.append("row-by-row inserts are cheap for DuckDB on this disk")
    if batched_rate < 100_000:
        share = f"{arrow_s / batched_s:.0%}" if arrow_s is not None else "part"
        limits.append(
            f"Python: {share} of the batched time is building the Arrow batches from "
            "dataclasses (ledger/arrow.py: one getattr per field per row); the rest is the "
            "writer's per-record bookkeeping and DuckDB's insert with the call_id primary-key "
            "index"
        )
    return [
        Figure(
            section=SECTION,
            name=f"batched appends (writer, {DEFAULT_BATCH_ROWS:,}-row Arrow batches)",
            value=batched_rate,
            unit="rows/s",
            baseline="row-by-row INSERT ... VALUES (?, ...)",
            baseline_value=row_rate,
            ratio=ratio,
            target="≥ 50× row-by-row and ≥ 100,000 rows/s",
            target_ratio=50.0,
            target_value=100_000.0,
            higher_is_better=True,
            limited_by="; ".join(limits) or None,
            detail=f"{batched_n:,} CallRecords batched, {row_n:,} row by row, fresh ledger files",
        )
    ]


def _arrow_seconds(records: list[CallRecord]) -> float | None:
    """Time to turn the records into Arrow batches alone (the writer's conversion)."""
    try:
        from assistant.ledger.arrow import to_arrow
        from assistant.ledger.store import DEFAULT_BATCH_ROWS
    except ImportError:  # the writer's internals moved: the share is then not reported
        return None
    started = time.perf_counter()
    for i in range(0, len(records), DEFAULT_BATCH_ROWS):
        to_arrow(CallRecord, records[i : i + DEFAULT_BATCH_ROWS])
    return time.perf_counter() - started


# --- a synthetic ledger of many requests -------------------------------------------------------

def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


# --- dashboard and sweep ------------------------------------------------------------------------


def _costs_by_pandas(path: Path) -> object:
    """The baseline: every call into pandas, cost per media hour by run computed there."""
    from assistant.ledger import Ledger

    with Ledger(path, read_only=True) as ledger:
        calls, runs = every_call_and_run(ledger)
    per_run = calls.groupby("run_id")["cost_usd"].sum().rename("total_cost_usd")
    merged = runs.merge(per_run, left_on="run_id", right_index=True, how="left")
    merged["cost_per_media_hour_usd"] = (
        merged["total_cost_usd"].fillna(0.0) / merged["media_duration_s"] * 3600
    )
    return merged


def naive_sweep(ledger: Ledger, run_id: str) -> list[tuple[float, float, float | None, float]]:
    """The sweep's baseline, done the obvious way (what ``routing.sweep`` did before): outcomes
    into pandas, a pivot, then per threshold ``np.where`` over every request and
    ``np.percentile``. Returns (threshold, total cost, mean quality, p95 latency) per threshold."""
    import numpy as np

    from assistant.analysis.sweep import DEFAULT_THRESHOLDS
    from assistant.ledger.queries import run_shared_cost_usd, run_tier_outcomes

    frame = run_tier_outcomes(ledger, run_id)
    wide = frame.pivot(
        index="request_id", columns="tier", values=["cost_usd", "quality", "latency_ms"]
    )
    score = frame.groupby("request_id")["score"].first().reindex(wide.index).to_numpy(dtype=float)

    def column(name: str, tier: str) -> np.ndarray:
        return wide[(name, tier)].to_numpy(dtype=float, na_value=np.nan)

    shared = run_shared_cost_usd(ledger, run_id)
    points = []
    for t in DEFAULT_THRESHOLDS:
        premium = score >= t
        cost = np.where(premium, column("cost_usd", "premium"), column("cost_usd", "cheap"))
        quality = np.where(premium, column("quality", "premium"), column("quality", "cheap"))
        latency = np.where(premium, column("latency_ms", "premium"), column("latency_ms", "cheap"))
        known = quality[~np.isnan(quality)]
        points.append(
            (
                t,
                float(cost.sum()) + shared,
                float(known.mean()) if known.size else None,
                float(np.percentile(latency, 95)),
            )
        )
    return points


def bench_queries(ledger: SyntheticLedger, *, quick: bool) -> list[Figure]:
    from assistant.analysis.sweep import sweep
    from assistant.ledger import Ledger
    from assistant.ledger.queries import cost_dashboard, list_runs
    from assistant.views.workbench import read_calls

    reps = 2 if quick else 3
    scale = f"{ledger.requests:,} requests, {ledger.calls:,} calls, {ledger.runs} runs"

    def dashboard() -> None:
        with Ledger(ledger.path, read_only=True) as led:
            cost_dashboard(led)

    def runs_page() -> None:
        with Ledger(ledger.path, read_only=True) as led:
            list_runs(led)

    def pandas_dashboard() -> None:  # what the Costs page did before: every call into pandas
        calls = read_calls(ledger.path)
        for keys in ("stage", "model", ["stage", "model"]):
            calls.groupby(keys)["cost_usd"].agg(["count", "sum"])
        _costs_by_pandas(ledger.path)

    dash_s = timed_best(dashboard, reps)
    page_s = timed_best(pandas_dashboard, 1)
    pandas_s = timed_best(lambda: _costs_by_pandas(ledger.path), 1)
    runs_s = timed_best(runs_page, reps)
    figures = [
        Figure(
            section=SECTION,
            name=f"cost dashboard query over {ledger.requests:,} requests",
            value=dash_s * 1000,
            unit="ms",
            baseline="the same figures from every call loaded into pandas and grouped there "
            "(how the Costs page read them before)",
            baseline_value=page_s * 1000,
            ratio=page_s / dash_s,
            target="< 300 ms",
            target_value=300.0,
            higher_is_better=False,
            limited_by=None
            if dash_s < 0.3
            else "DuckDB's hash aggregation of every call on 2 cores (one scan of the calls table)",
            detail="queries.cost_dashboard: cost per media hour by run, by stage, by model; "
            + scale,
        ),
        Figure(
            section=SECTION,
            name=f"runs page query (list_runs) over {ledger.requests:,} requests",
            value=runs_s * 1000,
            unit="ms",
            baseline="every call loaded into pandas, grouped there",
            baseline_value=pandas_s * 1000,
            ratio=pandas_s / runs_s,
            target="< 300 ms",
            target_value=300.0,
            higher_is_better=False,
            limited_by=None
            if runs_s < 0.3
            else "exact p50/p95 latency per run (quantile_cont sorts each run's requests) and "
            "the join of four aggregates, on 2 cores",
            detail="cost per media hour, p50/p95 latency, quality per run; " + scale,
        ),
    ]

    def run_sweep() -> None:
        with Ledger(ledger.path, read_only=True) as led:
            sweep(led, ledger.sweep_run)

    def run_reference() -> None:
        with Ledger(ledger.path, read_only=True) as led:
            naive_sweep(led, ledger.sweep_run)

    sweep_s = timed_best(run_sweep, reps)
    reference_s = timed_best(run_reference, 1)
    figures.append(
        Figure(
            section=SECTION,
            name=f"101-threshold sweep over {ledger.sweep_requests:,} requests",
            value=sweep_s * 1000,
            unit="ms",
            baseline="the same sweep done naively: pandas pivot, np.where and np.percentile "
            "per threshold",
            baseline_value=reference_s * 1000,
            ratio=reference_s / sweep_s,
            target="< 1 s",
            target_value=1000.0,
            higher_is_better=False,
            limited_by=None
            if sweep_s < 1.0
            else "reading 2 tier outcomes per request out of DuckDB and sorting the latencies",
            detail=f"routing.sweep.sweep on {2 * ledger.sweep_requests:,} tier_outcomes rows",
        )
    )
    return figures


def run(workdir: Path, *, quick: bool, say: Callable[[str], None]) -> list[Figure]:
    say("ledger: batched appends against row-by-row inserts")
    figures = bench_appends(workdir, quick=quick)
    requests = 50_000 if quick else 1_000_000
    say(f"ledger: generating a synthetic ledger of {requests:,} requests")
    synthetic = build_ledger(workdir / "large.duckdb", requests=requests)
    say(f"  built in {synthetic.build_s:.1f} s; timing the dashboard and the sweep")
    figures += bench_queries(synthetic, quick=quick)
    _remove(synthetic.path)
    return figures
