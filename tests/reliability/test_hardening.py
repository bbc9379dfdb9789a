"""The rest of issue 20's defects, one test (or a few) each: spooled runs that vanished (2), the
folders killed imports left (9), LiveKit's secret length (11), dataset rewrites (12), money
formatting (14), and the nearest-key helper behind the manifest and questions checks (7)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.ledger import env as subprocess_env
from support.ledger import held_by_another_process

from assistant.cli.registry import main
from assistant.core.errors import LedgerError
from assistant.core.known_keys import nearest, toml_line
from assistant.core.money import format_usd
from assistant.ledger import Ledger
from assistant.ledger.records import RunRecord
from assistant.ledger.sink import PathSink
from assistant.ledger.spool import TAKEN_RUNS, ingest, rejected_segments, spool_dir

ROOT = Path(__file__).resolve().parents[2]


# -- 14: one money formatter ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cost_usd", "shown"),
    [
        (None, "n/a"),
        (float("nan"), "n/a"),
        (0.0, "$0"),
        (1810.0, "$1,810.00"),
        (1.5, "$1.50"),
        (0.5, "$0.5000"),
        (0.0123, "$0.0123"),
        (0.01, "$0.0100"),
        (0.00181, "$0.00181"),  # the Live page said "1.81e+03 µ$"
        (0.0099996, "$0.0100"),  # rounds up to a cent: shown as cents
        (4.2e-7, "$0.000000420"),
        (1e-12, "<$0.000000001"),
        (-0.25, "-$0.2500"),
        (-0.00181, "-$0.00181"),
    ],
)
def test_format_usd(cost_usd: float | None, shown: str) -> None:
    assert format_usd(cost_usd) == shown


@pytest.mark.parametrize("cost_usd", [1e-15, 3.3e-9, 1.81e-3, 0.0099, 12345.678, 1e9])
def test_money_is_never_scientific_nor_micro(cost_usd: float) -> None:
    from assistant.views.live import usd

    for text in (format_usd(cost_usd), usd(cost_usd)):
        assert "e+" not in text and "e-" not in text and "µ" not in text, text
        assert text.startswith(("$", "<$"))


# -- 7: the nearest known key --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typo", "meant"),
    [("keyfacts", "key_facts"), ("Needs_Screen", "needs_screen"), ("transcipt", "transcript"),
     ("needs-screen", "needs_screen"), ("colour", None)],
)
def test_nearest_key(typo: str, meant: str | None) -> None:
    known = ["key_facts", "needs_screen", "transcript", "reference", "text"]
    assert nearest(typo, known) == meant


def test_toml_line_finds_the_key_in_its_table() -> None:
    text = 'name = "x"\n[screen]\nfile = "a"\nfps = 5\n[[participants]]\nname = "a"\n' \
        '[[participants]]\nname = "b"\nvoice = 1\n'
    assert toml_line(text, "fps", table="screen") == 4
    assert toml_line(text, "name") == 1
    assert toml_line(text, "voice", table="participants", occurrence=1) == 9
    assert toml_line(text, "voice", table="participants", occurrence=0) is None


# -- 11: LiveKit's secret length -----------------------------------------------------------------
def test_a_short_secret_is_refused_and_the_dev_servers_pair_still_signs() -> None:
    from assistant.core.errors import RoomError
    from assistant.core.tenancy import TenantContext
    from assistant.livekit.admin import LiveKitSettings
    from assistant.livekit.tokens import mint_token, verify_token

    ctx = TenantContext("acme")
    short = LiveKitSettings("ws://localhost:7880", "key", "x")
    with pytest.raises(RoomError, match="has 1 characters; LiveKit requires at least 32"):
        mint_token(short, ctx, "standup", identity="alice")
    dev = LiveKitSettings("ws://localhost:7880", "devkey", "secret")  # livekit-server --dev
    assert verify_token(dev, mint_token(dev, ctx, "standup", identity="alice")).identity == "alice"
    good = LiveKitSettings("ws://localhost:7880", "key", "k" * 32)
    assert verify_token(good, mint_token(good, ctx, "standup", identity="bob")).identity == "bob"


# -- 12: dataset rewrites keep the mode and replace the file -----------------------------------
def test_labels_write_dataset_keeps_the_mode(tiny: Path) -> None:
    from assistant.analysis.labels import write_labels_to_dataset

    questions = tiny / "questions.jsonl"
    questions.chmod(0o640)
    label = {
        "label_id": "l1",
        "kind": "reference",
        "question_id": "q1",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "reference": "On March 14.",
        "key_facts_json": json.dumps(["March 14"]),
    }
    result = write_labels_to_dataset(tiny, [label])
    assert result.changed == 1
    assert questions.stat().st_mode & 0o777 == 0o640
    assert "On March 14." in questions.read_text()
    assert not [p for p in tiny.iterdir() if p.name.endswith(".tmp")]


def test_questions_write_replaces_the_file_and_keeps_its_mode(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tiny / "truth" / "transcript.jsonl"  # bob's one utterance becomes a question
    truth.write_text(truth.read_text().replace(
        "The launch date is March 14.", "What does the Pro plan cost per seat each month?"))
    questions = tiny / "questions.jsonl"
    questions.chmod(0o640)
    before = questions.stat()
    old = questions.read_text()
    assert main(["questions", str(tiny), "--write", "--stt", "recorded", "--quiet"]) == 0
    assert "appended 1" in capsys.readouterr().out
    after = questions.stat()
    assert after.st_mode & 0o777 == 0o640
    assert after.st_ino != before.st_ino  # a new file renamed over the old, not appended in place
    text = questions.read_text()
    assert text.startswith(old) and "Pro plan cost per seat" in text
    assert not [p for p in tiny.iterdir() if p.name.endswith(".tmp")]


# -- 2: a taken run id while the workbench holds the ledger; rejected segments are shown ---------
def _run(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id, source_kind="recorded", source_ref="x", dataset_name="d", tenant="acme",
        room="r", config_json="{}", config_hash="h", media_duration_s=1.0,
    )


def test_the_owner_publishes_its_run_ids_and_a_spooling_writer_refuses_a_taken_one(
    tmp_path: Path,
) -> None:
    from assistant.ledger import owner

    path = tmp_path / "w.duckdb"
    with Ledger(path) as ledger:
        ledger.start_run(_run("taken"))
    assert owner.owned(path) is not None  # the workbench holds it, as while the app runs
    try:
        assert (spool_dir(path) / TAKEN_RUNS).read_text() == "taken\n"
        sink = PathSink(path, wait_s=0.0)
        sink._held_by_other = True
        with pytest.raises(LedgerError, match="run taken already exists in the ledger"):
            sink._segments.write({"runs": [_run("taken")]}, [])
        sink._segments.write({"runs": [_run("fresh")]}, [])  # a free id still spools
    finally:
        owner.release(path)
    assert not (spool_dir(path) / TAKEN_RUNS).exists()  # no holder: nothing to consult


def test_rejected_segments_are_listed_with_their_reason_and_shown(tmp_path: Path) -> None:
    from assistant.views.workbench import read_rejected

    path = tmp_path / "w.duckdb"
    with Ledger(path) as ledger:
        ledger.start_run(_run("r1"))
    assert read_rejected(path).data is None
    with held_by_another_process(path):  # a holder that publishes nothing (an older workbench)
        PathSink(path, wait_s=0.0).start_run(_run("r1"))
    with Ledger(path) as ledger:
        report = ingest(ledger)
    assert len(report.rejected) == 1
    found = rejected_segments(path)
    assert [r.reason for r in found] == ["run r1 already exists in the ledger"]
    view = read_rejected(path)
    assert view.data is not None and view.data[0]["reason"] == "run r1 already exists in the ledger"
    assert "not ingested" in (view.message or "")


def test_the_runs_page_shows_rejected_segments(tmp_path: Path) -> None:
    from support.pages import open_page

    path = tmp_path / "w.duckdb"
    with Ledger(path) as ledger:
        ledger.start_run(_run("r1"))
    with held_by_another_process(path):
        PathSink(path, wait_s=0.0).start_run(_run("r1"))
    at = open_page(path, "pages/runs.py")
    warnings = " ".join(w.value for w in at.warning)
    assert "spooled segments were not ingested" in warnings, warnings


# -- 9: folders of killed imports ----------------------------------------------------------------
_STAGE = """
import sys
from pathlib import Path
from assistant.sessions.staging import stage_beside
staging = stage_beside(Path(sys.argv[1]))
(staging.path / "screen.mp4").write_bytes(b"x" * 300_000)
print(staging.path, flush=True)
sys.stdin.read()
"""


def _staging_process(out: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _STAGE, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env=subprocess_env(), cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_an_import_removes_folders_of_killed_imports_and_says_so(tmp_path: Path) -> None:
    from assistant.sessions.staging import sweep_stale

    killed, killed_dir = _staging_process(tmp_path / "meeting")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    running, running_dir = _staging_process(tmp_path / "other")
    old_style = tmp_path / ".old.importing-abc123"  # from before the lock: cannot be proven dead
    old_style.mkdir()
    try:
        notes = sweep_stale(tmp_path)
        assert not killed_dir.exists()
        assert running_dir.exists()  # its writer lives: left alone
        assert old_style.exists()
        assert any(killed_dir.name in n and "killed" in n and "0.3 MB" in n for n in notes), notes
        assert any(old_style.name in n and "cannot tell" in n for n in notes), notes
        assert not any(running_dir.name in n for n in notes)
    finally:
        assert running.stdin is not None
        running.stdin.close()
        running.wait(timeout=30)


def test_the_import_command_sweeps_first(tmp_path: Path, tiny_master: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    killed, killed_dir = _staging_process(tmp_path / "earlier")
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    out = tmp_path / "imported"
    code = main(["import", str(tiny_master / "screen.mp4"),
                 f"alice={tiny_master / 'audio' / 'alice.flac'}", "--out", str(out),
                 "--tenant", "acme", "--no-questions", "--quiet"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"note: removed {killed_dir.name}" in printed
    assert not killed_dir.exists() and (out / "manifest.toml").is_file()
    assert not [p for p in out.iterdir() if p.name == ".import.lock"]
    shutil.rmtree(out)


# -- 10: resume of a run still being written -----------------------------------------------------
def test_resume_of_a_live_replay_is_refused_and_the_replay_finishes(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    from assistant.sessions.runlock import lock_path

    ledger = tmp_path / "live.duckdb"
    writer = subprocess.Popen(
        [sys.executable, "-m", "assistant", "replay", str(tiny), "--ledger", str(ledger),
         "--run-id", "live", "--stt", "recorded", "--paced", "1", "--quiet"],
        env=subprocess_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            lock_path(ledger, "live").is_file() and lock_path(ledger, "live").read_text().strip()
        ):
            time.sleep(0.05)
        assert lock_path(ledger, "live").read_text().strip() == str(writer.pid)
        code = main(["replay", str(tiny), "--ledger", str(ledger), "--resume", "live", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"error: run live is still being written by process {writer.pid}" in err
        assert "Traceback" not in err and "ConstraintException" not in err
    finally:
        _, err = writer.communicate(timeout=180)
    assert writer.returncode == 0, err
    with Ledger(ledger, read_only=True) as held:
        cur = held.cursor()
        status = cur.execute("SELECT status FROM runs WHERE run_id = 'live'").fetchall()
        twice = cur.execute(
            "SELECT count(*) FROM (SELECT call_id FROM calls GROUP BY call_id HAVING count(*) > 1)"
        ).fetchall()
    assert status == [("finished",)] and twice == [(0,)]
