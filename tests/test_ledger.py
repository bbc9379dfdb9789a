"""The DuckDB ledger: exact schema, migrations, batched writes, errors, queries, file lock."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import typing
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from assistant.core.errors import LedgerError, LedgerLockedError
from assistant.ledger import (
    SCHEMA_VERSION,
    Ledger,
    list_runs,
    migrate,
    run_calls,
    run_frames,
    run_requests,
    run_summary,
    run_utterances,
)
from assistant.ledger import schema as ledger_schema
from assistant.ledger.records import (
    TABLES,
    CallRecord,
    FrameRecord,
    RequestRecord,
    RunRecord,
    UtteranceRecord,
)

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
REPLAY_HINT = "python -m assistant replay datasets/demo"

# --- record factories ---------------------------------------------------------------------------

_RUN = RunRecord(
    run_id="run-a",
    source_kind="recorded",
    source_ref="datasets/demo",
    dataset_name="demo",
    tenant="acme",
    room="standup",
    config_json="{}",
    config_hash="cfg0",
    media_duration_s=1800.0,
    started_at=T0,
)
_REQUEST = RequestRecord(
    request_id="req-0",
    run_id="run-a",
    tenant="acme",
    room="standup",
    question_id="q1",
    media_t_s=10.0,
    asker="alice",
    question="What does the chart show?",
    needs_screen=True,
    scorer="heuristic",
    score=0.7,
    score_features_json='{"length": 0.2}',
    router="threshold",
    threshold=0.6,
    tier="premium",
    explored=False,
    propensity=1.0,
    vision_model_requested="ocr-full",
    vision_model_resolved="ocr-full",
    llm_model_requested="local-extractive",
    llm_model_resolved="local-extractive",
    input_tokens=1200,
    output_tokens=80,
    routing_latency_ms=1.0,
    vision_latency_ms=50.0,
    retrieval_latency_ms=5.0,
    llm_latency_ms=44.0,
    total_latency_ms=100.0,
    vision_cost_usd=0.0,
    retrieval_cost_usd=0.0,
    llm_cost_usd=0.0,
    total_cost_usd=0.0,
    status="ok",
    error=None,
    fallback_model=None,
    answer="Revenue grew [S1].",
    citations_json="[]",
    retrieval_json="[]",
    reference_answer="Revenue grew.",
    quality_f1=0.8,
    quality_key_facts=1.0,
    quality=0.9,
    created_at=T0,
)
_CALL = CallRecord(
    call_id="call-0",
    run_id="run-a",
    request_id="req-0",
    tenant="acme",
    stage="llm",
    provider="local",
    model_requested="local-extractive",
    model_resolved="local-extractive",
    media_t_s=10.0,
    latency_ms=44.0,
    ttft_ms=12.5,
    input_tokens=1200,
    output_tokens=80,
    image_count=0,
    audio_s=0.0,
    compute_s=0.04,
    cost_usd=0.0,
    attempts=1,
    status="ok",
    error=None,
    created_at=T0,
)
_FRAME = FrameRecord(
    run_id="run-a",
    track="screen",
    media_t_s=1.0,
    reason="change",
    change_score=0.4,
    width=1280,
    height=720,
    frame_hash="f0",
)
_UTTERANCE = UtteranceRecord(
    run_id="run-a",
    participant="alice",
    start_s=0.0,
    end_s=2.5,
    text="Let's look at the numbers.",
    provider="whisper",
    model="tiny.en",
    confidence=0.93,
)


def run(**changes: Any) -> RunRecord:
    return dataclasses.replace(_RUN, **changes)


def request(**changes: Any) -> RequestRecord:
    return dataclasses.replace(_REQUEST, **changes)


def call(**changes: Any) -> CallRecord:
    return dataclasses.replace(_CALL, **changes)


def frame(**changes: Any) -> FrameRecord:
    return dataclasses.replace(_FRAME, **changes)


def utterance(**changes: Any) -> UtteranceRecord:
    return dataclasses.replace(_UTTERANCE, **changes)


def rows(ledger: Ledger, sql: str) -> list[dict[str, Any]]:
    """Query rows as dicts, through Arrow (DuckDB's own TIMESTAMPTZ conversion needs pytz)."""
    result: list[dict[str, Any]] = ledger.cursor().sql(sql).to_arrow_table().to_pylist()
    return result


def count(ledger: Ledger, table: str) -> int:
    return int(ledger.cursor().execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger" / "workbench.duckdb"


# --- (a) the exact schema -----------------------------------------------------------------------

V, D, B, BI, TZ = "VARCHAR", "DOUBLE", "BOOLEAN", "BIGINT", "TIMESTAMP WITH TIME ZONE"
EXPECTED_SCHEMA = [
    ("answer_cache", "key", V, "NO"),
    ("answer_cache", "spec", V, "NO"),
    ("answer_cache", "answer_json", V, "NO"),
    ("answer_cache", "input_tokens", BI, "NO"),
    ("answer_cache", "output_tokens", BI, "NO"),
    ("answer_cache", "created_at", TZ, "NO"),
    ("call_cache", "key", V, "NO"),
    ("call_cache", "spec", V, "NO"),
    ("call_cache", "stage", V, "NO"),
    ("call_cache", "model_resolved", V, "NO"),
    ("call_cache", "value_json", V, "NO"),
    ("call_cache", "input_tokens", BI, "NO"),
    ("call_cache", "output_tokens", BI, "NO"),
    ("call_cache", "image_count", BI, "NO"),
    ("call_cache", "audio_s", D, "NO"),
    ("call_cache", "compute_s", D, "NO"),
    ("call_cache", "latency_ms", D, "NO"),
    ("call_cache", "cost_usd", D, "NO"),
    ("call_cache", "run_id", V, "YES"),
    ("call_cache", "call_id", V, "YES"),
    ("call_cache", "created_at", TZ, "NO"),
    ("calls", "call_id", V, "NO"),
    ("calls", "run_id", V, "NO"),
    ("calls", "request_id", V, "YES"),
    ("calls", "tenant", V, "NO"),
    ("calls", "stage", V, "NO"),
    ("calls", "provider", V, "NO"),
    ("calls", "model_requested", V, "NO"),
    ("calls", "model_resolved", V, "YES"),
    ("calls", "media_t_s", D, "NO"),
    ("calls", "latency_ms", D, "NO"),
    ("calls", "ttft_ms", D, "YES"),
    ("calls", "input_tokens", BI, "NO"),
    ("calls", "output_tokens", BI, "NO"),
    ("calls", "image_count", BI, "NO"),
    ("calls", "audio_s", D, "NO"),
    ("calls", "compute_s", D, "NO"),
    ("calls", "cost_usd", D, "NO"),
    ("calls", "attempts", BI, "NO"),
    ("calls", "status", V, "NO"),
    ("calls", "error", V, "YES"),
    ("calls", "created_at", TZ, "NO"),
    ("calls", "cached", B, "YES"),
    ("calls", "original_latency_ms", D, "YES"),
    ("calls", "original_cost_usd", D, "YES"),
    ("frames", "run_id", V, "NO"),
    ("frames", "track", V, "NO"),
    ("frames", "media_t_s", D, "NO"),
    ("frames", "reason", V, "NO"),
    ("frames", "change_score", D, "NO"),
    ("frames", "width", BI, "NO"),
    ("frames", "height", BI, "NO"),
    ("frames", "frame_hash", V, "NO"),
    ("judgements", "run_id", V, "NO"),
    ("judgements", "request_id", V, "NO"),
    ("judgements", "tier", V, "NO"),
    ("judgements", "judge_model", V, "NO"),
    ("judgements", "judge_model_resolved", V, "YES"),
    ("judgements", "score", D, "YES"),
    ("judgements", "reason", V, "YES"),
    ("judgements", "input_tokens", BI, "NO"),
    ("judgements", "output_tokens", BI, "NO"),
    ("judgements", "latency_ms", D, "NO"),
    ("judgements", "cost_usd", D, "NO"),
    ("judgements", "attempts", BI, "NO"),
    ("judgements", "status", V, "NO"),
    ("judgements", "error", V, "YES"),
    ("judgements", "created_at", TZ, "NO"),
    ("kb_chunks", "tenant", V, "NO"),
    ("kb_chunks", "chunk_id", V, "NO"),
    ("kb_chunks", "doc_id", V, "NO"),
    ("kb_chunks", "heading", V, "NO"),
    ("kb_chunks", "text", V, "NO"),
    ("kb_documents", "tenant", V, "NO"),
    ("kb_documents", "doc_id", V, "NO"),
    ("kb_documents", "source", V, "NO"),
    ("kb_documents", "kind", V, "NO"),
    ("kb_documents", "sha256", V, "NO"),
    ("kb_documents", "chars", BI, "NO"),
    ("kb_documents", "chunks", BI, "NO"),
    ("kb_documents", "ingested_at", TZ, "NO"),
    ("labels", "label_id", V, "NO"),
    ("labels", "run_id", V, "NO"),
    ("labels", "request_id", V, "NO"),
    ("labels", "question_id", V, "YES"),
    ("labels", "tier", V, "YES"),
    ("labels", "kind", V, "NO"),
    ("labels", "question", V, "YES"),
    ("labels", "reference", V, "YES"),
    ("labels", "key_facts_json", V, "YES"),
    ("labels", "score", D, "YES"),
    ("labels", "preferred_tier", V, "YES"),
    ("labels", "author", V, "NO"),
    ("labels", "created_at", TZ, "NO"),
    ("projections", "run_id", V, "NO"),
    ("projections", "request_id", V, "YES"),
    ("projections", "scenario", V, "NO"),
    ("projections", "stage", V, "NO"),
    ("projections", "tier", V, "YES"),
    ("projections", "routed", B, "NO"),
    ("projections", "media_t_s", D, "NO"),
    ("projections", "model", V, "NO"),
    ("projections", "token_method", V, "NO"),
    ("projections", "output_method", V, "NO"),
    ("projections", "input_tokens", BI, "NO"),
    ("projections", "image_tokens", BI, "NO"),
    ("projections", "output_tokens", BI, "NO"),
    ("projections", "audio_s", D, "NO"),
    ("projections", "cost_usd", D, "NO"),
    ("projections", "created_at", TZ, "NO"),
    ("request_inputs", "run_id", V, "NO"),
    ("request_inputs", "request_id", V, "NO"),
    ("request_inputs", "tier", V, "NO"),
    ("request_inputs", "routed", B, "NO"),
    ("request_inputs", "system_prompt", V, "YES"),
    ("request_inputs", "user_message", V, "YES"),
    ("request_inputs", "answer", V, "YES"),
    ("request_inputs", "vision_prompt", V, "YES"),
    ("request_inputs", "frame_width", BI, "YES"),
    ("request_inputs", "frame_height", BI, "YES"),
    ("request_inputs", "screen_text", V, "YES"),
    ("request_inputs", "vision_tier", V, "YES"),
    ("request_inputs", "screen_layout_json", V, "YES"),
    ("requests", "request_id", V, "NO"),
    ("requests", "run_id", V, "NO"),
    ("requests", "tenant", V, "NO"),
    ("requests", "room", V, "NO"),
    ("requests", "question_id", V, "YES"),
    ("requests", "media_t_s", D, "NO"),
    ("requests", "asker", V, "YES"),
    ("requests", "question", V, "NO"),
    ("requests", "needs_screen", B, "NO"),
    ("requests", "scorer", V, "NO"),
    ("requests", "score", D, "NO"),
    ("requests", "score_features_json", V, "NO"),
    ("requests", "router", V, "NO"),
    ("requests", "threshold", D, "YES"),
    ("requests", "tier", V, "NO"),
    ("requests", "explored", B, "NO"),
    ("requests", "propensity", D, "NO"),
    ("requests", "vision_model_requested", V, "YES"),
    ("requests", "vision_model_resolved", V, "YES"),
    ("requests", "llm_model_requested", V, "NO"),
    ("requests", "llm_model_resolved", V, "YES"),
    ("requests", "input_tokens", BI, "NO"),
    ("requests", "output_tokens", BI, "NO"),
    ("requests", "routing_latency_ms", D, "NO"),
    ("requests", "vision_latency_ms", D, "NO"),
    ("requests", "retrieval_latency_ms", D, "NO"),
    ("requests", "llm_latency_ms", D, "NO"),
    ("requests", "total_latency_ms", D, "NO"),
    ("requests", "vision_cost_usd", D, "NO"),
    ("requests", "retrieval_cost_usd", D, "NO"),
    ("requests", "llm_cost_usd", D, "NO"),
    ("requests", "total_cost_usd", D, "NO"),
    ("requests", "status", V, "NO"),
    ("requests", "error", V, "YES"),
    ("requests", "fallback_model", V, "YES"),
    ("requests", "answer", V, "YES"),
    ("requests", "citations_json", V, "NO"),
    ("requests", "retrieval_json", V, "NO"),
    ("requests", "reference_answer", V, "YES"),
    ("requests", "quality_f1", D, "YES"),
    ("requests", "quality_key_facts", D, "YES"),
    ("requests", "quality", D, "YES"),
    ("requests", "created_at", TZ, "NO"),
    ("requests", "vision_scorer", V, "YES"),
    ("requests", "vision_score", D, "YES"),
    ("requests", "vision_threshold", D, "YES"),
    ("requests", "vision_tier", V, "YES"),
    ("requests", "vision_explored", B, "YES"),
    ("requests", "vision_propensity", D, "YES"),
    ("requests", "route_reason", V, "YES"),
    ("requests", "vision_route_reason", V, "YES"),
    ("runs", "run_id", V, "NO"),
    ("runs", "source_kind", V, "NO"),
    ("runs", "source_ref", V, "NO"),
    ("runs", "dataset_name", V, "YES"),
    ("runs", "tenant", V, "NO"),
    ("runs", "room", V, "NO"),
    ("runs", "config_json", V, "NO"),
    ("runs", "config_hash", V, "NO"),
    ("runs", "media_duration_s", D, "YES"),
    ("runs", "started_at", TZ, "NO"),
    ("runs", "ended_at", TZ, "YES"),
    ("runs", "status", V, "NO"),
    ("runs", "error", V, "YES"),
    ("runs", "media_processed_s", D, "YES"),
    ("runs", "events_done", BI, "YES"),
    ("runs", "worker", V, "YES"),
    ("runs", "heartbeat_at", TZ, "YES"),
    ("schema_migrations", "version", "INTEGER", "NO"),
    ("schema_migrations", "name", V, "NO"),
    ("schema_migrations", "applied_at", TZ, "NO"),
    ("spool_segments", "segment", V, "NO"),
    ("spool_segments", "run_id", V, "YES"),
    ("spool_segments", "rows", BI, "NO"),
    ("spool_segments", "ingested_at", TZ, "NO"),
    ("tier_outcomes", "run_id", V, "NO"),
    ("tier_outcomes", "request_id", V, "NO"),
    ("tier_outcomes", "tier", V, "NO"),
    ("tier_outcomes", "vision_model", V, "YES"),
    ("tier_outcomes", "llm_model", V, "NO"),
    ("tier_outcomes", "latency_ms", D, "NO"),
    ("tier_outcomes", "cost_usd", D, "NO"),
    ("tier_outcomes", "answer", V, "YES"),
    ("tier_outcomes", "quality", D, "YES"),
    ("tier_outcomes", "quality_f1", D, "YES"),
    ("tier_outcomes", "quality_key_facts", D, "YES"),
    ("tier_outcomes", "status", V, "NO"),
    ("tier_outcomes", "cached", B, "NO"),
    ("tier_outcomes", "vision_tier", V, "YES"),
    ("tier_outcomes", "llm_tier", V, "YES"),
    ("utterances", "run_id", V, "NO"),
    ("utterances", "participant", V, "NO"),
    ("utterances", "start_s", D, "NO"),
    ("utterances", "end_s", D, "NO"),
    ("utterances", "text", V, "NO"),
    ("utterances", "provider", V, "NO"),
    ("utterances", "model", V, "NO"),
    ("utterances", "confidence", D, "YES"),
    ("utterances", "words_json", V, "YES"),
]

_COLUMNS_SQL = """
SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
WHERE table_schema = 'main' ORDER BY table_name, ordinal_position
"""


def test_blank_file_migrates_to_the_exact_schema(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        got = [tuple(r) for r in ledger.cursor().execute(_COLUMNS_SQL).fetchall()]
        keys = ledger.cursor().execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE constraint_type = 'PRIMARY KEY' ORDER BY table_name"
        )
        primary_keys = [(t, list(c)) for t, c in keys.fetchall()]
    assert got == EXPECTED_SCHEMA
    assert primary_keys == [
        ("answer_cache", ["key"]),
        ("calls", ["call_id"]),
        ("kb_chunks", ["tenant", "chunk_id"]),
        ("kb_documents", ["tenant", "doc_id"]),
        ("labels", ["label_id"]),
        ("requests", ["request_id"]),
        ("runs", ["run_id"]),
        ("schema_migrations", ["version"]),
        ("spool_segments", ["segment"]),
    ]


# --- (b) records.py and the tables agree --------------------------------------------------------

_SQL_TYPE = {str: V, float: D, int: BI, bool: B, datetime: TZ}


def test_every_record_field_is_a_column_and_back(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        columns = ledger.cursor().execute(_COLUMNS_SQL).fetchall()
    for table, cls in TABLES.items():
        hints = typing.get_type_hints(cls)
        expected = set()
        for f in dataclasses.fields(cls):
            args = [a for a in typing.get_args(hints[f.name]) if a is not type(None)]
            base = args[0] if args else hints[f.name]
            nullable = "YES" if args else "NO"
            expected.add((f.name, _SQL_TYPE[base], nullable))
        actual = {(c, t, n) for tab, c, t, n in columns if tab == table}
        assert actual == expected, table
    assert {t for t, *_ in columns} == set(TABLES) | {
        "schema_migrations", "spool_segments", "kb_documents", "kb_chunks", "labels"
    }


# --- (c) migrations are applied once ------------------------------------------------------------


def test_migrations_apply_once(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        assert ledger.applied_migrations == [
            "create_ledger_tables",
            "utterance_words",
            "tier_outcomes",
            "run_media_processed",
            "checkpoints_and_spool",
            "knowledge_base",
            "judgements",
            "labels",
            "vision_decision",
            "projections",
            "fleet_heartbeat",
            "call_cache",
            "screen_layout",
        ]
    with Ledger(ledger_path) as ledger:
        assert ledger.applied_migrations == []
        recorded = ledger.cursor().execute("SELECT version, name FROM schema_migrations")
        assert recorded.fetchall() == [
            (1, "create_ledger_tables"),
            (2, "utterance_words"),
            (3, "tier_outcomes"),
            (4, "run_media_processed"),
            (5, "checkpoints_and_spool"),
            (6, "knowledge_base"),
            (7, "judgements"),
            (8, "labels"),
            (9, "vision_decision"),
            (10, "projections"),
            (11, "fleet_heartbeat"),
            (12, "call_cache"),
            (14, "screen_layout"),
        ]
    assert SCHEMA_VERSION == 14
    with Ledger(ledger_path, read_only=True) as ledger:
        assert ledger.applied_migrations == []


def test_migrate_on_a_plain_connection() -> None:
    con = duckdb.connect(":memory:")
    try:
        assert migrate(con) == [
            "create_ledger_tables",
            "utterance_words",
            "tier_outcomes",
            "run_media_processed",
            "checkpoints_and_spool",
            "knowledge_base",
            "judgements",
            "labels",
            "vision_decision",
            "projections",
            "fleet_heartbeat",
            "call_cache",
            "screen_layout",
        ]
        assert migrate(con) == []
    finally:
        con.close()


def test_a_failing_migration_rolls_back(ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Ledger(ledger_path).close()
    broken = ledger_schema.Migration(
        SCHEMA_VERSION + 1, "broken", ("CREATE TABLE half_done (a INTEGER)", "CREATE TABLE oops (a NOPE)")
    )
    monkeypatch.setattr(ledger_schema, "MIGRATIONS", (*ledger_schema.MIGRATIONS, broken))
    with pytest.raises(LedgerError, match=rf"migration {SCHEMA_VERSION + 1} \(broken\) failed"):
        Ledger(ledger_path)
    monkeypatch.undo()
    with Ledger(ledger_path) as ledger:
        tables = {r[0] for r in ledger.cursor().execute("SHOW TABLES").fetchall()}
        versions = ledger.cursor().execute("SELECT version FROM schema_migrations").fetchall()
    assert "half_done" not in tables
    assert versions == [(m.version,) for m in ledger_schema.MIGRATIONS]


def test_an_old_ledger_is_migrated_and_keeps_its_rows(ledger_path: Path) -> None:
    ledger_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(ledger_path))
    assert migrate(con, migrations=ledger_schema.MIGRATIONS[:1]) == ["create_ledger_tables"]
    con.execute(
        "INSERT INTO utterances VALUES ('r', 'alice', 1.0, 2.0, 'hello', 'whisper', 'tiny.en', 0.9)"
    ).fetchall()
    con.close()
    with Ledger(ledger_path) as ledger:
        assert ledger.applied_migrations == [
            "utterance_words",
            "tier_outcomes",
            "run_media_processed",
            "checkpoints_and_spool",
            "knowledge_base",
            "judgements",
            "labels",
            "vision_decision",
            "projections",
            "fleet_heartbeat",
            "call_cache",
            "screen_layout",
        ]
        rows = ledger.cursor().execute("SELECT text, words_json FROM utterances").fetchall()
    assert rows == [("hello", None)]


# --- (d) batching -------------------------------------------------------------------------------


def test_writer_flushes_at_batch_boundaries_and_on_close(ledger_path: Path) -> None:
    n, k = 23, 5
    written = [
        call(
            call_id=f"call-{i:02d}",
            request_id=None if i % 3 == 0 else f"req-{i}",
            model_resolved=None if i % 2 else "m",
            ttft_ms=None if i % 4 == 0 else i * 1.5,
            error=None if i % 5 else "timeout",
            created_at=T0 + timedelta(seconds=i, microseconds=123),
        )
        for i in range(n)
    ]
    with Ledger(ledger_path) as ledger:
        writer = ledger.writer(batch_rows=k)
        for i, record in enumerate(written, start=1):
            writer.append(record)
            assert count(ledger, "calls") == (i // k) * k
            assert writer.pending() == ({"calls": i % k} if i % k else {})
        writer.close()
        assert count(ledger, "calls") == n
        assert writer.pending() == {}
        read = [CallRecord(**r) for r in rows(ledger, "SELECT * FROM calls ORDER BY call_id")]
        frame_ = run_calls(ledger, "run-a")
    assert read == written
    assert read[0].request_id is None and read[0].ttft_ms is None
    assert read[1].created_at == T0 + timedelta(seconds=1, microseconds=123)
    assert str(frame_["created_at"].dtype).startswith("datetime64[us, ")
    assert frame_["request_id"].isna().sum() == 8


def test_writer_handles_every_table_and_all_none_columns(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        ledger.start_run(run())
        with ledger.writer() as writer:
            writer.append(request(asker=None, question_id=None, quality=None, threshold=None))
            writer.append(frame())
            writer.append(utterance(confidence=None))
            writer.append(run(run_id="run-b", dataset_name=None, media_duration_s=None))
        assert [RequestRecord(**r) for r in rows(ledger, "SELECT * FROM requests")] == [
            request(asker=None, question_id=None, quality=None, threshold=None)
        ]
        assert count(ledger, "frames") == 1 and count(ledger, "runs") == 2
        assert run_utterances(ledger, "run-a")["confidence"].isna().all()
        with pytest.raises(TypeError, match="not one of"):
            ledger.writer().append({"run_id": "x"})


def test_a_failed_flush_keeps_the_rows(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        writer = ledger.writer(batch_rows=100)
        writer.append(call(call_id="c1"))
        writer.flush()
        writer.append(call(call_id="c1", cost_usd=2.0))  # duplicate key: the batch fails
        writer.append(call(call_id="c2"))
        writer.append(frame())
        with pytest.raises(LedgerError, match="2 calls rows, 1 frames rows") as caught:
            writer.flush()
        assert "kept" in str(caught.value)
        assert writer.pending() == {"calls": 2, "frames": 1}  # one transaction: none went in
        assert count(ledger, "frames") == 0 and count(ledger, "calls") == 1
        ledger.cursor().execute("DELETE FROM calls WHERE call_id = 'c1'").fetchall()
        writer.close()  # the retry succeeds
        assert rows(ledger, "SELECT call_id, cost_usd FROM calls ORDER BY call_id") == [
            {"call_id": "c1", "cost_usd": 2.0},
            {"call_id": "c2", "cost_usd": 0.0},
        ]
        with pytest.raises(LedgerError, match="closed"):
            writer.append(frame())


def test_take_pending_hands_back_unwritable_rows(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        writer = ledger.writer(batch_rows=2)
        writer.append(call(call_id="dup"))
        bad = call(call_id="dup")
        with pytest.raises(LedgerError):
            writer.append(bad)
        assert writer.take_pending() == {"calls": [call(call_id="dup"), bad]}
        assert writer.pending() == {}
        writer.close()
        assert count(ledger, "calls") == 0


# --- (e) threads --------------------------------------------------------------------------------


def test_writes_from_many_threads_land_without_loss(ledger_path: Path) -> None:
    threads, per_thread = 8, 300
    with Ledger(ledger_path) as ledger:
        shared = ledger.writer(batch_rows=37)

        def work(t: int) -> int:
            with ledger.writer(batch_rows=50) as own:
                for i in range(per_thread):
                    shared.append(utterance(participant=f"p{t}", start_s=float(i)))
                    own.append(frame(track=f"t{t}", media_t_s=float(i)))
            return count(ledger, "frames")  # each thread reads through its own cursor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(work, range(threads)))
        shared.close()
        total = threads * per_thread
        distinct = "SELECT count(DISTINCT (participant, start_s)) AS n FROM utterances"
        assert count(ledger, "utterances") == total
        assert rows(ledger, distinct) == [{"n": total}]
        assert count(ledger, "frames") == total


# --- (f) runs -----------------------------------------------------------------------------------


def test_start_run_twice_is_refused(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        ledger.start_run(run())
        with pytest.raises(LedgerError, match=r"run run-a already exists in .*--run-id"):
            ledger.start_run(run(tenant="other"))
        assert count(ledger, "runs") == 1


def test_finish_run(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        ledger.start_run(run())
        ledger.finish_run("run-a", status="failed", error="boom")
        summary = run_summary(ledger, "run-a")
        with pytest.raises(LedgerError, match="does not exist"):
            ledger.finish_run("nope", status="finished")
        with pytest.raises(ValueError, match="status"):
            ledger.finish_run("run-a", status="done")
    assert (summary.status, summary.error) == ("failed", "boom")
    assert summary.ended_at is not None and summary.ended_at >= summary.started_at


# --- (g) files the ledger refuses ---------------------------------------------------------------


def test_read_only_open_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.duckdb"
    with pytest.raises(LedgerError, match=re.escape(REPLAY_HINT)) as caught:
        Ledger(path, read_only=True)
    assert str(path) in str(caught.value)
    assert not path.exists()


def test_read_only_open_of_a_file_without_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(LedgerError, match=re.escape(REPLAY_HINT)):
        Ledger(path, read_only=True)


def test_read_only_ledger_refuses_writes(ledger_path: Path) -> None:
    Ledger(ledger_path).close()
    with Ledger(ledger_path, read_only=True) as ledger:
        with pytest.raises(LedgerError, match="read-only"):
            ledger.start_run(run())
        assert list_runs(ledger).empty


def test_a_newer_schema_asks_for_an_upgrade(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        ledger.cursor().execute(
            "INSERT INTO schema_migrations VALUES (?, 'from_the_future', now())",
            [SCHEMA_VERSION + 1],
        ).fetchall()
    for read_only in (False, True):
        with pytest.raises(LedgerError, match=r"newer than this workbench.*upgrade"):
            Ledger(ledger_path, read_only=read_only)


def test_a_garbage_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are not the bytes you are looking for\n" * 200)
    for read_only in (False, True):
        with pytest.raises(LedgerError, match="not a DuckDB database") as caught:
            Ledger(path, read_only=read_only)
        assert str(path) in str(caught.value)
        assert not isinstance(caught.value, LedgerLockedError)


def test_close_is_idempotent_and_final(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    ledger.cursor()
    ledger.close()
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.cursor()


# --- (h) queries --------------------------------------------------------------------------------


@pytest.fixture
def two_runs() -> typing.Iterator[Ledger]:
    """Run A: half an hour, 4 requests, 4 LLM calls + 1 STT call. Run B: no requests."""
    with Ledger(":memory:") as ledger:
        ledger.start_run(run(config_json='{"routing": {"threshold": 0.6}}'))
        ledger.start_run(
            run(run_id="run-b", started_at=T0 + timedelta(days=1), media_duration_s=None)
        )
        tiers = ["premium", "cheap", "cheap", "premium"]
        latencies = [400.0, 100.0, 300.0, 200.0]
        qualities = [0.9, 0.5, None, 1.0]
        media = [30.0, 10.0, 20.0, 40.0]
        with ledger.writer(batch_rows=3) as writer:
            for i in range(4):
                writer.append(
                    request(
                        request_id=f"a{i}",
                        tier=tiers[i],
                        total_latency_ms=latencies[i],
                        quality=qualities[i],
                        media_t_s=media[i],
                        status="error" if i == 2 else "ok",
                    )
                )
                writer.append(call(call_id=f"a-llm{i}", request_id=f"a{i}", cost_usd=0.01 * i))
            writer.append(call(call_id="a-stt", request_id=None, stage="stt", cost_usd=0.14))
            writer.append(call(call_id="b-stt", run_id="run-b", request_id=None, cost_usd=0.05))
            writer.extend([frame(media_t_s=2.0), frame(media_t_s=1.0), frame(run_id="run-b")])
            writer.extend([utterance(), utterance(start_s=3.0, end_s=4.0)])
        yield ledger


def test_list_runs_figures(two_runs: Ledger) -> None:
    runs = list_runs(two_runs)
    assert list(runs.columns) == [
        "run_id", "started_at", "ended_at", "status", "dataset_name", "tenant", "room",
        "threshold", "requests", "premium_share", "total_cost_usd", "cost_if_paid_usd",
        "cached_calls", "cost_per_media_hour_usd", "p50_latency_ms", "p95_latency_ms",
        "mean_quality", "labelled", "abstained", "errors",
    ]  # fmt: skip
    assert list(runs["run_id"]) == ["run-b", "run-a"]  # newest first
    b, a = runs.iloc[0], runs.iloc[1]
    assert a["threshold"] == pytest.approx(0.6)
    assert a["requests"] == 4 and a["errors"] == 1
    assert a["premium_share"] == pytest.approx(0.5)
    assert a["total_cost_usd"] == pytest.approx(0.20)  # 0 + .01 + .02 + .03 + STT .14
    assert a["cost_per_media_hour_usd"] == pytest.approx(0.40)  # half an hour of media
    assert a["p50_latency_ms"] == pytest.approx(250.0)
    assert a["p95_latency_ms"] == pytest.approx(385.0)  # 300 + 0.85 * (400 - 300)
    assert a["mean_quality"] == pytest.approx(0.8)  # the None quality is left out
    assert a["labelled"] == 3  # ... and said: 3 of 4 requests have a quality
    assert b["requests"] == 0 and b["errors"] == 0
    assert b["total_cost_usd"] == pytest.approx(0.05)
    for column in ("threshold", "premium_share", "cost_per_media_hour_usd", "p50_latency_ms"):
        assert b[column] != b[column]  # NaN: no threshold, no requests, no media duration


def test_run_summary_figures(two_runs: Ledger) -> None:
    a = run_summary(two_runs, "run-a")
    assert (a.requests, a.cheap_requests, a.premium_requests, a.errors) == (4, 2, 2, 1)
    assert (a.calls, a.frames_kept, a.utterances) == (5, 2, 2)
    assert a.premium_share == pytest.approx(0.5)
    assert a.total_cost_usd == pytest.approx(0.20)
    assert a.cost_per_media_hour_usd == pytest.approx(0.40)
    assert (a.p50_latency_ms, a.p95_latency_ms) == (pytest.approx(250.0), pytest.approx(385.0))
    assert a.mean_quality == pytest.approx(0.8)
    assert a.threshold == pytest.approx(0.6) and a.started_at == T0
    b = run_summary(two_runs, "run-b")
    assert (b.requests, b.calls, b.frames_kept, b.utterances) == (0, 1, 1, 0)
    assert b.premium_share is None and b.p95_latency_ms is None and b.mean_quality is None
    assert b.threshold is None and b.cost_per_media_hour_usd is None
    with pytest.raises(LedgerError, match="run nope does not exist"):
        run_summary(two_runs, "nope")


def test_run_rows_are_in_media_order(two_runs: Ledger) -> None:
    assert list(run_requests(two_runs, "run-a")["request_id"]) == ["a1", "a2", "a0", "a3"]
    assert len(run_calls(two_runs, "run-a")) == 5
    assert list(run_frames(two_runs, "run-a")["media_t_s"]) == [1.0, 2.0]
    assert list(run_utterances(two_runs, "run-a")["start_s"]) == [0.0, 3.0]
    assert run_requests(two_runs, "nope").empty


# --- (i) the file lock --------------------------------------------------------------------------

_HOLD = """
import sys, time
from assistant.ledger import Ledger
ledger = Ledger(sys.argv[1])
print("ready", flush=True)
time.sleep(60)
"""


def test_a_ledger_held_by_another_process_is_locked(ledger_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(ledger_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "ready":
            pytest.fail(f"the holder process did not open the ledger: {holder.communicate()[1]}")
        for read_only in (False, True):
            with pytest.raises(LedgerLockedError) as caught:
                Ledger(ledger_path, read_only=read_only)
            message = str(caught.value)
            assert str(ledger_path) in message
            assert "another replay" in message and "--ledger PATH" in message
    finally:
        holder.kill()
        holder.communicate()
