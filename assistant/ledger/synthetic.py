"""A synthetic ledger for the benchmarks, generated inside DuckDB (``INSERT ... SELECT ... FROM
range(n)``) from the record dataclasses' fields, so it follows the schema whatever columns are added
later; and the row-by-row insert the batched writer is measured against."""

from __future__ import annotations

import dataclasses
import time
import typing
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from assistant.ledger.records import CallRecord, RequestRecord, TierOutcomeRecord

if typing.TYPE_CHECKING:
    from assistant.ledger import Ledger


def insert_calls_one_by_one(ledger: Ledger, records: Sequence[CallRecord]) -> None:
    """One ``INSERT ... VALUES (?, ...)`` per call record: the baseline of the batched writer."""
    names = [f.name for f in dataclasses.fields(CallRecord)]
    sql = f"INSERT INTO calls ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    cur = ledger.cursor()
    for record in records:
        cur.execute(sql, [getattr(record, n) for n in names])


def every_call_and_run(ledger: Ledger) -> tuple[typing.Any, typing.Any]:
    """Every call and every run's media duration as DataFrames: the pandas baseline's input."""
    cur = ledger.cursor()
    calls = cur.sql("SELECT * FROM calls").to_arrow_table().to_pandas()
    runs = cur.sql("SELECT run_id, media_duration_s FROM runs").to_arrow_table().to_pandas()
    return calls, runs


def table_rows(ledger: Ledger, run_id: str, tables: Sequence[str]) -> list[int]:
    """How many rows each of ``tables`` (ledger tables with a run_id) holds for ``run_id``."""
    known = {"frames", "utterances", "requests", "calls", "tier_outcomes"}
    cur = ledger.cursor()
    counts = []
    for table in tables:
        if table not in known:
            raise ValueError(f"not a per-run ledger table: {table!r}")
        sql = f"SELECT count(*) FROM {table} WHERE run_id = ?"
        counts.append(int(cur.execute(sql, [run_id]).fetchall()[0][0]))
    return counts


_DEFAULTS: dict[type, str] = {str: "'x'", float: "0.0", int: "0", bool: "false"}


def _select(cls: type, overrides: dict[str, str]) -> str:
    """A SELECT list with one expression per field of ``cls`` (the table's columns): the
    ``overrides`` where given, else NULL for optional fields and a constant of the field's type."""
    hints = typing.get_type_hints(cls)
    parts = []
    for f in dataclasses.fields(cls):
        if f.name in overrides:
            expr = overrides[f.name]
        else:
            hint = hints[f.name]
            args = typing.get_args(hint)
            if type(None) in args:
                expr = "NULL"
            elif hint is datetime:
                expr = "now()"
            else:
                expr = _DEFAULTS[hint]
        parts.append(f"{expr} AS {f.name}")
    return ", ".join(parts)


@dataclasses.dataclass(frozen=True, slots=True)
class SyntheticLedger:
    path: Path
    requests: int
    calls: int
    runs: int
    sweep_run: str
    sweep_requests: int
    build_s: float


def build_ledger(path: Path, *, requests: int, per_run: int = 5_000) -> SyntheticLedger:
    """A ledger of ``requests`` requests in runs of ``per_run``, with their calls (retrieval,
    answer, a screen read for 30%, transcription every 10 s of media) and one ``--both-tiers``
    run holding every request's two tier outcomes (the sweep's input)."""
    from assistant.ledger import Ledger

    started = time.perf_counter()
    runs = max(1, requests // per_run)
    with Ledger(path) as ledger:
        cur = ledger.cursor()
        cur.execute(
            "INSERT INTO runs (run_id, source_kind, source_ref, dataset_name, tenant, room, "
            "config_json, config_hash, media_duration_s, started_at, status) "
            "SELECT 'run' || lpad(i::VARCHAR, 5, '0'), 'recorded', 'synthetic', 'synthetic', "
            "'tenant' || (i % 7), 'room', '{\"routing\": {\"threshold\": 0.3}}', 'hash', "
            f"{per_run} * 12.0, now() - to_seconds(i), 'finished' FROM range({runs}) t(i)"
        ).fetchall()
        # request i belongs to run i // per_run, asked every 12 s of media
        run_of = f"'run' || lpad((i // {per_run})::VARCHAR, 5, '0')"
        request = _select(
            RequestRecord,
            {
                "request_id": "'r' || i",
                "run_id": run_of,
                "tenant": f"'tenant' || ((i // {per_run}) % 7)",
                "room": "'room'",
                "media_t_s": f"(i % {per_run}) * 12.0",
                "question": "'what is on the slide?'",
                "needs_screen": "i % 10 < 3",
                "scorer": "'heuristic'",
                "score": "hash(i) % 10000 / 10000.0",
                "score_features_json": "'{}'",
                "router": "'threshold'",
                "threshold": "0.3",
                "tier": "CASE WHEN hash(i) % 10000 >= 3000 THEN 'premium' ELSE 'cheap' END",
                "propensity": "1.0",
                "llm_model_requested": "'local:extractive-1'",
                "input_tokens": "400 + i % 300",
                "output_tokens": "40 + i % 60",
                "total_latency_ms": "5 + hash(i * 7) % 2000 / 10.0",
                "total_cost_usd": "1e-6 * (1 + i % 5)",
                "status": "'ok'",
                "citations_json": "'[]'",
                "retrieval_json": "'[]'",
                "quality": "(hash(i * 3) % 100) / 100.0",
            },
        )
        cur.execute(f"INSERT INTO requests SELECT {request} FROM range({requests}) t(i)").fetchall()
        # calls: k = 0 retrieval, 1 answer, 2 screen read (30% of requests)
        call = _select(
            CallRecord,
            {
                "call_id": "'c' || i || '-' || k",
                "run_id": run_of,
                "request_id": "'r' || i",
                "tenant": f"'tenant' || ((i // {per_run}) % 7)",
                "stage": "CASE k WHEN 0 THEN 'retrieval' WHEN 1 THEN 'llm' ELSE 'vision' END",
                "provider": "CASE k WHEN 0 THEN 'bm25' WHEN 1 THEN 'local' ELSE 'ocr' END",
                "model_requested": "CASE k WHEN 0 THEN 'bm25s' WHEN 1 THEN "
                "(CASE WHEN i % 3 = 0 THEN 'extractive-3' ELSE 'extractive-1' END) "
                "ELSE (CASE WHEN i % 3 = 0 THEN 'full' ELSE 'low' END) END",
                "model_resolved": "NULL",
                "media_t_s": f"(i % {per_run}) * 12.0",
                "latency_ms": "1 + k * 300 + hash(i + k) % 100",
                "cost_usd": "CASE k WHEN 0 THEN 1e-8 WHEN 1 THEN 2e-7 ELSE 2.5e-5 END",
                "attempts": "1",
                "status": "'ok'",
            },
        )
        cur.execute(
            f"INSERT INTO calls SELECT {call} FROM range({requests}) t(i), range(3) s(k) "
            "WHERE k < 2 OR i % 10 < 3"
        ).fetchall()
        stt = _select(
            CallRecord,
            {
                "call_id": "'s' || j",
                "run_id": "'run' || lpad((j % " + str(runs) + ")::VARCHAR, 5, '0')",
                "request_id": "NULL",
                "tenant": f"'tenant' || ((j % {runs}) % 7)",
                "stage": "'stt'",
                "provider": "'whisper'",
                "model_requested": "'tiny.en'",
                "media_t_s": f"(j // {runs}) * 10.0",
                "latency_ms": "150.0",
                "audio_s": "6.0",
                "cost_usd": "4e-6",
                "attempts": "1",
                "status": "'ok'",
            },
        )
        stt_calls = runs * per_run * 12 // 10
        cur.execute(f"INSERT INTO calls SELECT {stt} FROM range({stt_calls}) t(j)").fetchall()
        # the sweep's run: every request answered by both tiers
        cur.execute(
            "INSERT INTO runs (run_id, source_kind, source_ref, dataset_name, tenant, room, "
            "config_json, config_hash, media_duration_s, started_at, status) VALUES "
            "('sweep', 'recorded', 'synthetic', 'synthetic', 'tenant0', 'room', '{}', 'hash', "
            f"{requests} * 12.0, now(), 'finished')"
        ).fetchall()
        sweep_request = request.replace(f"{run_of} AS run_id", "'sweep' AS run_id").replace(
            "'r' || i AS request_id", "'s' || i AS request_id"
        )
        cur.execute(
            f"INSERT INTO requests SELECT {sweep_request} FROM range({requests}) t(i)"
        ).fetchall()
        outcome = _select(
            TierOutcomeRecord,
            {
                "run_id": "'sweep'",
                "request_id": "'s' || i",
                "tier": "CASE k WHEN 0 THEN 'cheap' ELSE 'premium' END",
                "llm_model": "CASE k WHEN 0 THEN 'local:extractive-1' "
                "ELSE 'local:extractive-3' END",
                "latency_ms": "20 + k * 400 + hash(i * 5 + k) % 5000 / 10.0",
                "cost_usd": "1e-6 * (1 + k * 4) + hash(i + k) % 100 * 1e-8",
                "quality": "CASE WHEN i % 11 = 0 THEN NULL "
                "ELSE least(1.0, (hash(i * 3 + k) % 100) / 100.0 + k * 0.2) END",
                "status": "'ok'",
                "cached": "false",
            },
        )
        cur.execute(
            f"INSERT INTO tier_outcomes SELECT {outcome} FROM range({requests}) t(i), "
            "range(2) s(k)"
        ).fetchall()
        cur.execute("CHECKPOINT").fetchall()
        calls = cur.execute("SELECT count(*) FROM calls").fetchall()[0][0]
    return SyntheticLedger(
        path=path,
        requests=requests,
        calls=int(calls),
        runs=runs,
        sweep_run="sweep",
        sweep_requests=requests,
        build_s=time.perf_counter() - started,
    )
