"""Concurrency: the workbench holds the ledger and serves several sessions while a CLI replay and a
live-paced session write from other processes. No reader sees a lock error, no row is lost, and a
read-only CLI command stops at once with a message that says what to do."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from support.configs import recorded_config
from support.ledger import ROOT, env, run_contents

from assistant.ledger import Ledger
from assistant.ledger.owner import owned, release
from assistant.ledger.spool import pending_segments
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views import workbench


def test_sessions_read_while_two_other_processes_write(tiny: Path, tmp_path: Path) -> None:
    with Ledger(tmp_path / "reference.duckdb") as ledger:
        # the cascade on, as the CLI replay below runs it by default
        config = recorded_config(0.3, cascade=True)
        replay(load_dataset(tiny), ledger=ledger, config=config, run_id="ref")
        reference = run_contents(ledger, "ref")
    path = tmp_path / "l.duckdb"
    with Ledger(path) as ledger:  # an earlier run, already there when the workbench starts
        replay(load_dataset(tiny), ledger=ledger, config=recorded_config(0.3), run_id="earlier")
    assert owned(path) is not None  # the workbench now holds the file
    try:
        errors: list[str] = []
        seen_runs: list[int] = []
        stop = threading.Event()

        def session() -> None:  # one browser session refreshing its pages
            while not stop.is_set():
                for view in (
                    workbench.read_runs(path),
                    workbench.read_costs(path),
                    workbench.read_run(path, "earlier"),
                ):
                    if view.data is None:
                        errors.append(str(view.message))
                runs = workbench.read_runs(path).data
                seen_runs.append(0 if runs is None else len(runs))

        sessions = [threading.Thread(target=session) for _ in range(3)]
        for thread in sessions:
            thread.start()
        base = [sys.executable, "-m", "assistant", "replay", str(tiny), "--ledger", str(path),
                "--stt", "recorded", "--threshold", "0.3", "--quiet"]
        writers = [
            subprocess.Popen([*base, "--run-id", "cli"], env=env(), cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE),
            subprocess.Popen([*base, "--run-id", "live", "--paced", "2"], env=env(), cwd=ROOT,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        ]
        outputs = [w.communicate(timeout=300) for w in writers]
        stop.set()
        for thread in sessions:
            thread.join(timeout=60)
        for writer, (out, err) in zip(writers, outputs, strict=True):
            assert writer.returncode == 0, err
            assert "spooled" in out and "Spooling rows" in err  # it worked, by spooling

        # a read-only command cannot share the file: it says so and what to do (after a 5 s wait)
        listing = subprocess.run(
            [sys.executable, "-m", "assistant", "runs", "--ledger", str(path)],
            env=env(), cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
        assert listing.returncode == 2
        assert "locked by another process" in listing.stderr and "stop that" in listing.stderr

        runs = workbench.read_runs(path).data  # this read ingests what is left
        assert runs is not None
        assert errors == []  # no session ever saw a lock error or an empty page
        assert max(seen_runs) >= 2 and min(seen_runs) >= 1
        assert pending_segments(path) == []
        ledger = owned(path)
        assert ledger is not None
        assert dict(zip(runs["run_id"], runs["status"], strict=True)) == {
            "earlier": "finished", "cli": "finished", "live": "finished"
        }
        assert run_contents(ledger, "cli") == reference  # nothing lost, nothing twice
        live = run_contents(ledger, "live")
        assert [r[0] for r in live["requests"]] == ["q1", "q2", "q3"]
        assert live["duplicate_call_ids"] == []
    finally:
        release(path)
