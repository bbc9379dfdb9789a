"""Many writers, one ledger file: spooled segments, idempotent ingestion, checkpoints, --resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.configs import recorded_config
from support.ledger import held_by_another_process, run_contents

from assistant.core.errors import ConfigError, LedgerError
from assistant.ledger import Ledger
from assistant.ledger.queries import run_summary
from assistant.ledger.records import FrameRecord, RunRecord
from assistant.ledger.sink import PathSink
from assistant.ledger.spool import REJECTED, ingest, pending_segments, spool_dir
from assistant.ledger.store import Checkpoint
from assistant.pipeline.orchestrator import Pipeline
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay, resume


@pytest.fixture
def reference(tiny: Path, tmp_path: Path) -> dict:
    """What an uninterrupted replay of the tiny session records, written straight to a file."""
    with Ledger(tmp_path / "reference.duckdb") as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=recorded_config(), run_id="ref")
        return run_contents(ledger, "ref")


def test_a_replay_spools_while_another_process_holds_the_file(
    tiny: Path, tmp_path: Path, reference: dict
) -> None:
    path = tmp_path / "l.duckdb"
    Ledger(path).close()
    notices: list[str] = []
    with held_by_another_process(path):
        sink = PathSink(path, wait_s=0.2, notice=notices.append)
        replay(load_dataset(tiny), ledger=sink, config=recorded_config(), run_id="spooled")
        segments = pending_segments(path)
        assert sink.spooled_segments == len(segments) >= 4  # start, one per question, the end
    assert any("locked by another process" in n and "Spooling" in n for n in notices)
    with Ledger(path) as ledger:  # the holder has gone: whoever opens the file next ingests
        report = ingest(ledger)
        assert report.segments == len(segments) and not report.rejected
        assert run_contents(ledger, "spooled") == reference
        summary = run_summary(ledger, "spooled")
    assert summary.status == "finished"
    assert pending_segments(path) == []


def test_ingestion_is_idempotent_after_a_crash_between_commit_and_cleanup(
    tiny: Path, tmp_path: Path, reference: dict
) -> None:
    path = tmp_path / "l.duckdb"
    Ledger(path).close()
    with held_by_another_process(path):
        replay(load_dataset(tiny), ledger=PathSink(path, wait_s=0.1), config=recorded_config(),
               run_id="twice")
    backup = tmp_path / "backup"
    shutil.copytree(spool_dir(path), backup)
    with Ledger(path) as ledger:
        first = ingest(ledger)
        # the folders come back, as if the ingesting process died after its commits
        shutil.copytree(backup, spool_dir(path), dirs_exist_ok=True)
        second = ingest(ledger)
        assert first.segments > 0 and second.segments == 0 and second.rows == 0
        assert pending_segments(path) == []  # recognised by name and removed
        assert run_contents(ledger, "twice") == reference


def test_a_spooled_run_whose_id_is_taken_is_set_aside_whole(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    with Ledger(path) as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=recorded_config(), run_id="taken")
        before = run_contents(ledger, "taken")
    with held_by_another_process(path):
        replay(load_dataset(tiny), ledger=PathSink(path, wait_s=0.1), config=recorded_config(),
               run_id="taken")
    spooled = len(pending_segments(path))
    with Ledger(path) as ledger:
        report = ingest(ledger)
        assert report.segments == 0 and len(report.rejected) == spooled
        assert "run taken already exists" in report.rejected[0]
        assert run_contents(ledger, "taken") == before  # nothing of the second run mixed in
    rejected = spool_dir(path) / REJECTED
    assert len([p for p in rejected.iterdir() if p.is_dir()]) == spooled
    reasons = sorted(rejected.glob("*.reason"))
    assert "already exists" in reasons[0].read_text()  # the first: the others follow it
    assert all("earlier segment" in r.read_text() for r in reasons[1:])


def test_a_half_written_segment_is_never_ingested(tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    Ledger(path).close()
    half = spool_dir(path) / ".tmp-00000000000000000001-abc-000001"
    half.mkdir(parents=True)
    (half / "frames.parquet").write_bytes(b"PAR1 not finished")
    with Ledger(path) as ledger:
        assert ingest(ledger).segments == 0
    assert half.exists()


def test_a_direct_flush_writes_all_tables_and_the_checkpoint_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    sink = PathSink(path)
    run = RunRecord("r", "recorded", "x", "x", "t", "room", "{}", "h", 10.0)
    sink.start_run(run)
    frame = FrameRecord("r", "screen", 1.0, "first", 1.0, 4, 4, "abc")
    sink.append(frame)
    sink.append(frame)
    sink.flush(Checkpoint("r", 7, 3.5))
    with Ledger(path) as ledger:
        got = ledger.cursor().execute("SELECT events_done, media_processed_s FROM runs").fetchall()
        assert got == [(7, 3.5)]
        assert ledger.cursor().execute("SELECT count(*) FROM frames").fetchall() == [(2,)]


# --- resume -----------------------------------------------------------------------------------


def _stop_at(monkeypatch: pytest.MonkeyPatch, question_id: str, exc: BaseException) -> None:
    original = Pipeline.ask

    def ask(self: Pipeline, question):  # type: ignore[no-untyped-def]
        if question.id == question_id:
            raise exc
        return original(self, question)

    monkeypatch.setattr(Pipeline, "ask", ask)


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), RuntimeError("disk on fire")])
def test_resume_finishes_a_stopped_run_with_no_row_twice(
    tiny: Path, tmp_path: Path, reference: dict, monkeypatch: pytest.MonkeyPatch,
    stop: BaseException,
) -> None:
    path = tmp_path / "l.duckdb"
    dataset = load_dataset(tiny)
    _stop_at(monkeypatch, "q2", stop)
    with pytest.raises(type(stop)):
        replay(dataset, ledger=path, config=recorded_config(), run_id="stopped")
    with Ledger(path) as ledger:
        partial = run_contents(ledger, "stopped")
        assert [r[0] for r in partial["requests"]] == ["q1"]
        assert run_summary(ledger, "stopped").status in {"interrupted", "failed"}
    monkeypatch.undo()
    notices: list[str] = []
    resume(dataset, ledger=path, run_id="stopped", notice=notices.append)
    assert any("resuming run stopped after" in n for n in notices)
    with Ledger(path) as ledger:
        assert run_contents(ledger, "stopped") == reference
        summary = run_summary(ledger, "stopped")
    assert summary.status == "finished" and summary.error is None


def test_resume_refuses_what_it_cannot_finish(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    dataset = load_dataset(tiny)
    replay(dataset, ledger=path, config=recorded_config(), run_id="done")
    with pytest.raises(LedgerError, match="has finished: there is nothing to resume"):
        resume(dataset, ledger=path, run_id="done")
    with pytest.raises(LedgerError, match="run nope does not exist"):
        resume(dataset, ledger=path, run_id="nope")
    with Ledger(path) as ledger:
        ledger.cursor().execute(
            "UPDATE runs SET status = 'interrupted', dataset_name = 'other'"
        ).fetchall()
    with pytest.raises(ConfigError, match="replayed dataset 'other', not 'tiny'"):
        resume(dataset, ledger=path, run_id="done")
