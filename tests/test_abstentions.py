"""An answer that declines is an abstention: its own status, counted apart in the run summary,
the replay summary, the sweep and the A/B (with the quality of answered vs abstained requests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.configs import recorded_config

from assistant.analysis.ab import compare_samples, compare_thresholds, run_sample
from assistant.analysis.sweep import format_sweep, sweep
from assistant.cli.replay import format_summary
from assistant.ledger import Ledger
from assistant.ledger.queries import run_requests, run_summary
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

UNANSWERABLE = {
    "id": "q9",
    "t_s": 7.0,
    "asker": "bob",
    "text": "Who won the lottery jackpot yesterday?",
    "reference": "Nobody said.",
    "key_facts": ["jackpot winner"],
    "needs_screen": False,
    "source": "transcript",
}


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    import shutil

    root = Path(shutil.copytree(tiny_master, tmp_path_factory.mktemp("abst") / "tiny"))
    with (root / "questions.jsonl").open("a") as f:
        f.write(json.dumps(UNANSWERABLE) + "\n")
    path = root.parent / "l.duckdb"
    dataset = load_dataset(root)
    with Ledger(path) as ledger:
        replay(dataset, ledger=ledger, config=recorded_config(0.5), run_id="bt", both_tiers=True)
    return path


def test_a_declining_answer_is_recorded_as_abstained(ledger_path: Path) -> None:
    with Ledger(ledger_path, read_only=True) as ledger:
        requests = run_requests(ledger, "bt")
        summary = run_summary(ledger, "bt")
    status = dict(zip(requests["question_id"], requests["status"], strict=True))
    assert status["q9"] == "abstained" and status["q1"] == "ok"
    assert summary.abstained == 1 and summary.errors == 0
    assert summary.abstained_quality == 0.0
    assert summary.answered_quality is not None and summary.answered_quality > 0
    assert "abstained 1" in format_summary(summary, ledger_path=str(ledger_path))


def test_sweep_and_ab_count_abstentions_apart(ledger_path: Path) -> None:
    with Ledger(ledger_path, read_only=True) as ledger:
        result = sweep(ledger, "bt")
        ab = compare_thresholds(ledger, "bt", 0.0, 1.0, resamples=50)
        runs = compare_samples(run_sample(ledger, "bt"), run_sample(ledger, "bt"), resamples=50)
    assert {p.abstained for p in result.points} == {1}  # both tiers decline q9
    assert "abstained" in format_sweep(result)
    assert (ab.abstained_a, ab.abstained_b) == (1, 1)
    assert ab.abstained_quality_a == 0.0 and (ab.answered_quality_a or 0) > 0
    assert runs.abstained_a == 1 and "abstained: A 1 of" in runs.abstentions


def test_runs_page_shows_the_abstentions(ledger_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parent.parent
    app = AppTest.from_file(str(root / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(ledger_path)
    app.run()
    assert not app.exception
    captions = " ".join(c.value for c in app.caption)
    assert "1 of 4 requests abstained" in captions
    assert "abstained" in app.dataframe[0].value.columns
