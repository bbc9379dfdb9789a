"""The demo, end to end, offline: real whisper, real OCR, real BM25, a real DuckDB file.

This is the promise of the README's first command. It takes about a minute on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.core.config import Config
from assistant.ledger import Ledger
from assistant.ledger.queries import run_calls, run_requests, run_summary, run_utterances
from assistant.perception_evals.stt import word_error_rate
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

DEMO = Path(__file__).resolve().parent.parent / "datasets" / "demo"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    dataset = load_dataset(DEMO)
    path = tmp_path_factory.mktemp("demo") / "ledger.duckdb"
    with Ledger(path) as ledger:
        run_id = replay(dataset, ledger=ledger, config=Config(), run_id="demo-test")
        return {
            "dataset": dataset,
            "summary": run_summary(ledger, run_id),
            "requests": run_requests(ledger, run_id),
            "calls": run_calls(ledger, run_id),
            "utterances": run_utterances(ledger, run_id),
        }


def test_demo_dataset_is_complete() -> None:
    dataset = load_dataset(DEMO)
    assert 15 <= len(dataset.questions) <= 25
    assert len(dataset.participants) >= 2 and len(dataset.documents) >= 3
    sources = {q.source for q in dataset.questions}
    assert {"screen", "knowledge", "transcript", "reasoning"} <= sources
    assert dataset.transcript and dataset.screen_changes
    assert {c.kind for c in dataset.screen_changes} >= {"slide", "scroll", "typing"}


def test_every_question_has_a_complete_request_row(demo_run: dict[str, object]) -> None:
    dataset, requests = demo_run["dataset"], demo_run["requests"]
    assert sorted(requests["question_id"]) == sorted(q.id for q in dataset.questions)  # type: ignore[attr-defined]
    assert set(requests["status"]) == {"ok"}
    assert requests["llm_model_resolved"].str.startswith("local:").all()
    assert (requests["total_latency_ms"] > 0).all() and (requests["total_cost_usd"] > 0).all()
    screen = requests[requests["needs_screen"]]
    assert screen["vision_model_resolved"].str.startswith("ocr:").all()
    assert requests["quality"].notna().all()


def test_transcription_and_ocr_calls_are_recorded(demo_run: dict[str, object]) -> None:
    calls = demo_run["calls"]
    stt = calls[calls["stage"] == "stt"]  # type: ignore[index]
    assert len(stt) >= 20 and (stt["provider"] == "whisper").all() and (stt["status"] == "ok").all()
    dataset = demo_run["dataset"]
    speech_s = sum(u.end_s - u.start_s for u in dataset.transcript)  # type: ignore[attr-defined]
    billed_s = stt["audio_s"].sum()
    # the voice gate sends speech (plus short padding), never the silence between turns
    assert speech_s * 0.9 < billed_s < speech_s * 1.4
    vision = calls[calls["stage"] == "vision"]  # type: ignore[index]
    assert len(vision) >= 1 and (vision["cost_usd"] > 0).all()
    requests, summary = demo_run["requests"], demo_run["summary"]
    stt_cost = stt["cost_usd"].sum()
    assert stt_cost > 0  # transcription is priced (compute seconds), and counted in the run total
    assert summary.total_cost_usd == pytest.approx(  # type: ignore[attr-defined]
        requests["total_cost_usd"].sum() + stt_cost  # type: ignore[index]
    )


def test_whisper_transcribes_the_meeting(demo_run: dict[str, object]) -> None:
    utterances = demo_run["utterances"]
    dataset = demo_run["dataset"]
    hypothesis = " ".join(utterances["text"])  # type: ignore[index]
    truth = " ".join(u.text for u in dataset.transcript)  # type: ignore[attr-defined]
    wer = word_error_rate(truth, hypothesis)
    assert wer < 0.25, f"word error rate {wer:.2f}"


def test_answers_find_key_facts(demo_run: dict[str, object]) -> None:
    summary = demo_run["summary"]
    assert summary.mean_quality is not None and summary.mean_quality >= 0.35  # type: ignore[attr-defined]
