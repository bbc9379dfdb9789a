"""``bench --only fleet``: many writer processes into one lake beside the file ledger with its
spool, and the cost dashboard over a lake beside the same rows in a file.

Writers: N processes (1, 2, 4, 8) each run one run of ``checkpoints`` flushes of ``rows`` call
rows, every flush one transaction with its checkpoint (what a replay or an agent job does). Into
the lake (PostgreSQL catalog, data files in a folder) through ``LakeSink``; into the file through
``PathSink``, which spools while another process holds the file; the spooled segments are
ingested at the end and that time counts. Rows per second = every row / wall time of all of it.

Dashboard: ``cost_dashboard`` over a synthetic ledger (``assistant.ledger.synthetic``, labelled
synthetic) in a file, then copied into a lake (``ledger copy``), same rows, same query.

The PostgreSQL server is a throwaway one (Debian's ``postgresql``, ``pgserver``); without it the
section says so and uses DuckLake's SQLite catalog (several processes on one host) instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from assistant.benchmarks.harness import Figure, timed_best

SECTION = "fleet"
WRITERS = (1, 2, 4, 8)


def _calls(run_id: str, start: int, rows: int) -> list[object]:
    from assistant.ledger.records import CallRecord

    return [
        CallRecord(
            call_id=f"{run_id}:{i:08d}", run_id=run_id, request_id=f"{run_id}:q{i // 3}",
            tenant="acme", stage="llm", provider="openai", model_requested="gpt-4.1-mini",
            model_resolved="gpt-4.1-mini", media_t_s=float(i), latency_ms=300.0, ttft_ms=None,
            input_tokens=800, output_tokens=120, image_count=0, audio_s=0.0, compute_s=0.0,
            cost_usd=0.000512, attempts=1, status="ok", error=None,
        )
        for i in range(start, start + rows)
    ]  # fmt: skip


def write_run(target: str, run_id: str, *, checkpoints: int, rows: int) -> None:
    """One writer: a run of ``checkpoints`` flushes of ``rows`` calls, each with its checkpoint."""
    from assistant.ledger.records import RunRecord
    from assistant.ledger.sink import open_sink
    from assistant.ledger.store import Checkpoint

    with open_sink(target) as sink:
        sink.start_run(
            RunRecord(
                run_id=run_id, source_kind="recorded", source_ref="bench", dataset_name="bench",
                tenant="acme", room="bench", config_json="{}", config_hash="bench",
                media_duration_s=float(checkpoints * rows),
            )
        )  # fmt: skip
        for k in range(checkpoints):
            for record in _calls(run_id, k * rows, rows):
                sink.append(record)
            sink.flush(Checkpoint(run_id, k + 1, float((k + 1) * rows)))
        sink.finish_run(run_id, status="finished", media_processed_s=float(checkpoints * rows))


def _writers(target: str, n: int, *, checkpoints: int, rows: int, tag: str) -> float:
    """Seconds for ``n`` processes to write their runs (and, for a file, the spool ingested)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assistant.benchmarks.fleet_bench", target, f"{tag}-{n}-{i}",
             str(checkpoints), str(rows)],
            env=env, stderr=subprocess.PIPE, text=True,
        )
        for i in range(n)
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"a bench writer failed: {err.strip()[-500:]}")
    if not target.startswith("ducklake:"):
        from assistant.ledger import Ledger
        from assistant.ledger.spool import ingest

        with Ledger(target) as ledger:
            ingest(ledger)
    return time.perf_counter() - started


def _count(target: str, tag: str) -> int:
    from assistant.ledger.lakes import calls_of_runs

    return calls_of_runs(target, f"{tag}-")


def writer_figures(
    lake: str | None, file: Path, *, quick: bool, say: Callable[[str], None]
) -> list[Figure]:
    checkpoints, rows = (5, 50) if quick else (20, 250)
    figures = []
    writers = WRITERS[:2] if quick else WRITERS
    for n in writers:
        total = n * checkpoints * rows
        say(f"fleet: {n} writers into the file ledger (spool)")
        file_s = _writers(str(file), n, checkpoints=checkpoints, rows=rows, tag=f"f{n}")
        assert _count(str(file), f"f{n}") == total, "rows lost in the file ledger"
        file_rate = total / file_s
        lake_rate = None
        if lake is not None:
            say(f"fleet: {n} writers into the lake")
            lake_s = _writers(lake, n, checkpoints=checkpoints, rows=rows, tag=f"l{n}")
            assert _count(lake, f"l{n}") == total, "rows lost in the lake"
            lake_rate = total / lake_s
        figures.append(
            Figure(
                section=SECTION,
                name=f"{n} writer processes, {checkpoints} checkpoints × {rows} rows each",
                value=lake_rate if lake_rate is not None else file_rate,
                unit="rows/s" + ("" if lake_rate is not None else " (file: no PostgreSQL here)"),
                baseline="the file ledger with its spool, same writers, same run",
                baseline_value=file_rate,
                ratio=None if lake_rate is None else lake_rate / file_rate,
                target="every row lands once (checked); the lake scales with writers",
                higher_is_better=True,
                extra={"file_rows_per_s": file_rate, "lake_rows_per_s": lake_rate},
            )
        )
    return figures


def dashboard_figures(
    lake_for: Callable[[str], str] | None, folder: Path, *, quick: bool, say: Callable[[str], None]
) -> list[Figure]:
    from assistant.ledger import Ledger
    from assistant.ledger.lakes import copy_ledger
    from assistant.ledger.queries import cost_dashboard
    from assistant.ledger.synthetic import build_ledger

    sizes = (
        (20_000,)
        if quick
        else tuple(
            int(s) for s in os.environ.get("WORKBENCH_BENCH_FLEET_SIZES", "1000000").split(",")
        )
    )
    figures = []
    for size in sizes:
        say(f"fleet: a synthetic ledger of {size:,} requests")
        path = folder / f"dash-{size}.duckdb"
        build_ledger(path, requests=size)

        def query_on(target: str) -> float:  # the page's case: a connection already open
            with Ledger(target, read_only=True) as led:
                return timed_best(lambda: cost_dashboard(led), 3)

        file_s = query_on(str(path))
        lake_s = None
        if lake_for is not None:
            lake = lake_for(f"dash{size}")
            say(f"fleet: copying {size:,} requests into a lake")
            copy_ledger(str(path), lake)
            lake_s = query_on(lake)
        figures.append(
            Figure(
                section=SECTION,
                name=f"cost dashboard over {size:,} requests (synthetic)",
                value=(lake_s if lake_s is not None else file_s) * 1000,
                unit="ms" + ("" if lake_s is not None else " (file: no PostgreSQL here)"),
                baseline="the same rows in a DuckDB file",
                baseline_value=file_s * 1000,
                ratio=None if lake_s is None else file_s / lake_s,
                target="the lake answers within a small factor of the file",
                extra={
                    "file_ms": file_s * 1000,
                    "lake_ms": None if lake_s is None else lake_s * 1000,
                },
            )
        )
    return figures


def run(workdir: Path, *, quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from assistant.benchmarks import pgserver

    os.environ["WORKBENCH_LAKE_DATA"] = str(workdir / "lake-data")
    reason = pgserver.missing_reason()
    if reason is not None:  # DuckLake's SQLite catalog also takes several processes (one host)
        say(f"fleet: {reason}; the lake's catalog is a SQLite file instead")

        def sqlite_lake(name: str) -> str:
            return f"ducklake:sqlite:{workdir / name}.sqlite"

        return writer_figures(
            sqlite_lake("writers"), workdir / "fleet.duckdb", quick=quick, say=say
        ) + dashboard_figures(sqlite_lake, workdir, quick=quick, say=say)
    with pgserver.running_server() as server:

        def lake_for(name: str) -> str:
            server.create_database(name)
            return server.lake(name)

        writers = writer_figures(lake_for("writers"), workdir / "fleet.duckdb", quick=quick,
                                 say=say)  # fmt: skip
        return writers + dashboard_figures(lake_for, workdir, quick=quick, say=say)


if __name__ == "__main__":  # one writer process: TARGET RUN_ID CHECKPOINTS ROWS
    write_run(sys.argv[1], sys.argv[2], checkpoints=int(sys.argv[3]), rows=int(sys.argv[4]))
