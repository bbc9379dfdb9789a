"""Crash safety: a replay killed with SIGKILL mid-run leaves a ledger that opens cleanly, holds every
flushed checkpoint, and `replay --resume RUN_ID` finishes the run with no row written twice.

The kill lands at a known point: the premium tier is an OpenAI-compatible server (a local fake of
OpenAI's API, reached through the real SDK) that stalls on the fourth question, and the test kills
the replay as soon as that request arrives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.fakes.vendors import FakeVendors, Reply
from support.ledger import ROOT, env, run_contents

from assistant.core.config import load_config
from assistant.ledger import Ledger
from assistant.ledger.queries import run_summary
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

EXTRA_QUESTIONS = [
    {"id": f"q{i}", "t_s": t, "asker": "bob", "text": text, "reference": ref, "key_facts": [ref],
     "needs_screen": False, "source": "knowledge"}
    for i, t, text, ref in [
        (4, 7.5, "How long does on-call have to acknowledge a page?", "15 minutes"),
        (5, 7.8, "What does the Pro plan cost?", "$49 per seat per month"),
        (6, 7.9, "When do we escalate to the incident commander?", "after 30 minutes"),
    ]
]
CONFIG = """
[stt]
provider = "recorded:"

[routing]
threshold = 0.0  # every question to the premium tier: the fake server

[llm]
premium = "openai-compatible:fake-premium"
"""


def _wait_for(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_killed_replay_resumes_with_no_duplicate_rows(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tiny / "questions.jsonl").open("a") as questions:
        questions.writelines(json.dumps(q) + "\n" for q in EXTRA_QUESTIONS)
    config_file = tmp_path / "premium.toml"
    config_file.write_text(CONFIG)
    path = tmp_path / "l.duckdb"
    with FakeVendors() as fake:
        monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", fake.openai_url)
        # what the run must hold in the end: the same session replayed without a crash
        with Ledger(tmp_path / "reference.duckdb") as ledger:
            replay(load_dataset(tiny), ledger=ledger, config=load_config(config_file),
                   run_id="crash")
            reference = run_contents(ledger, "crash")
        assert len(reference["requests"]) == 6
        answered = len(fake.of("openai"))
        fake.push("openai", Reply.answer(), Reply.answer(), Reply.answer(), Reply.stall(30))

        command = [sys.executable, "-m", "assistant", "replay", str(tiny), "--ledger", str(path),
                   "--config", str(config_file), "--quiet"]
        victim = subprocess.Popen([*command, "--run-id", "crash"], env=env(), cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for(lambda: len(fake.of("openai")) >= answered + 4, 120, "the fourth question")
            os.kill(victim.pid, signal.SIGKILL)
        finally:
            victim.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL

        with Ledger(path) as ledger:  # opens cleanly (DuckDB replays its write-ahead log)
            partial = run_contents(ledger, "crash")
            summary = run_summary(ledger, "crash")
            events_done = ledger.cursor().execute("SELECT events_done FROM runs").fetchall()[0][0]
        assert summary.status == "running"  # nobody could mark it: it was killed
        assert [r[0] for r in partial["requests"]] == ["q1", "q2", "q3"]  # every flushed question
        assert events_done > 0

        resumed = subprocess.run([*command, "--resume", "crash"], env=env(), cwd=ROOT,
                                 capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming run crash after" in resumed.stderr

    with Ledger(path) as ledger:
        final = run_contents(ledger, "crash")
        summary = run_summary(ledger, "crash")
    assert final["duplicate_call_ids"] == []
    assert final == reference  # every row once: requests, frames, utterances, calls
    assert summary.status == "finished" and summary.requests == 6
