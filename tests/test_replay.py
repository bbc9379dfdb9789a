"""Replays of the small session into a real DuckDB file, through the real offline providers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support.configs import recorded_config
from support.pipelines import collecting_pipeline

from assistant.core.errors import ConfigError, LedgerError, ProviderStatusError
from assistant.core.events import KeptFrame, Usage
from assistant.ledger import Ledger
from assistant.ledger.queries import list_runs, run_calls, run_requests, run_summary
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.stages import make_stages
from assistant.pipeline.tiers import TierPair
from assistant.providers.base import HookOutput
from assistant.providers.vision.base import VisionProvider
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.sessions.sources.recorded import RecordedSource


def test_replay_writes_one_request_per_question(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    with Ledger(tmp_path / "l.duckdb") as ledger:
        run_id = replay(dataset, ledger=ledger, config=recorded_config(), run_id="run-a")
        requests = run_requests(ledger, run_id)
        calls = run_calls(ledger, run_id)
        summary = run_summary(ledger, run_id)
    assert list(requests["question_id"]) == ["q1", "q2", "q3"]
    assert summary.status == "finished" and summary.requests == 3
    for row in requests.itertuples():
        assert row.tier in ("cheap", "premium")
        assert row.llm_model_resolved.startswith("local:extractive-")
        assert row.total_latency_ms > 0 and row.total_cost_usd > 0
        assert row.status == "ok" and row.quality is not None
    screen = requests[requests["question_id"] == "q2"].iloc[0]
    assert screen.vision_model_resolved.startswith("ocr:") and screen.vision_cost_usd > 0
    assert "2.1%" in screen.answer  # read off the slide by OCR
    assert screen.quality == 1.0
    said = requests[requests["question_id"] == "q1"].iloc[0]
    assert "March 14" in said.answer and "[1]" in said.answer  # cites its source
    assert set(calls["stage"]) == {"stt", "vision", "retrieval", "llm"}
    stt = calls[calls["stage"] == "stt"]
    assert len(stt) == 3 and stt["audio_s"].sum() > 3.0  # speech only, silence not sent
    assert summary.frames_kept == 8 and summary.utterances == 3  # fixed 1 FPS over 8 s


def test_second_threshold_lands_as_second_run(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    with Ledger(tmp_path / "l.duckdb") as ledger:
        replay(dataset, ledger=ledger, config=recorded_config(1.0), run_id="all-cheap")
        replay(dataset, ledger=ledger, config=recorded_config(0.0), run_id="all-premium")
        runs = list_runs(ledger).set_index("run_id")
    assert runs.loc["all-cheap", "premium_share"] == 0.0
    assert runs.loc["all-premium", "premium_share"] == 1.0
    assert runs.loc["all-premium", "threshold"] == 0.0
    assert runs.loc["all-premium", "total_cost_usd"] > 0


def test_run_id_must_be_new_and_valid(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    with Ledger(tmp_path / "l.duckdb") as ledger:
        replay(dataset, ledger=ledger, config=recorded_config(), run_id="r1")
        with pytest.raises(LedgerError, match="already exists"):
            replay(dataset, ledger=ledger, config=recorded_config(), run_id="r1")
        with pytest.raises(ConfigError, match="not valid"):
            replay(dataset, ledger=ledger, config=recorded_config(), run_id="bad id;--")
        assert len(list_runs(ledger)) == 1


class FailingVision(VisionProvider):
    """Scripted fake: every call answers HTTP 500."""

    provider = "fake"

    def __init__(self, *, model: str) -> None:
        super().__init__(model=model)
        self.calls = 0
        self._sleep = lambda _s: None

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        self.calls += 1
        raise ProviderStatusError("server error", status_code=500, provider="fake")


class EchoVision(VisionProvider):
    provider = "fake"

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        return HookOutput("Churn fell to 2.1%", Usage(image_count=1))


def _run_with_vision(tiny: Path, vision: dict[str, VisionProvider]) -> list[object]:
    dataset = load_dataset(tiny)
    config = recorded_config(0.0)  # everything premium
    stages = make_stages(config, dataset)
    stages = stages.with_(vision=TierPair(cheap=vision["cheap"], premium=vision["premium"]))
    pipeline, records = collecting_pipeline(dataset, config, stages=stages)
    for event in RecordedSource(dataset).events():
        pipeline.handle(event)
    pipeline.finish()
    return records


def test_failing_premium_vision_falls_back_to_cheap(tiny: Path) -> None:
    failing = FailingVision(model="broken")
    records = _run_with_vision(tiny, {"premium": failing, "cheap": EchoVision(model="echo")})
    request = next(r for r in records if getattr(r, "question_id", None) == "q2")
    assert request.status == "fallback"  # type: ignore[attr-defined]
    assert request.fallback_model == "fake:echo"  # type: ignore[attr-defined]
    assert "server error" in request.error  # type: ignore[attr-defined]
    assert "2.1%" in request.answer  # type: ignore[attr-defined]
    assert failing.calls == 3  # retried, then gave up
    failed = [r for r in records if getattr(r, "status", None) == "error" and hasattr(r, "call_id")]
    assert len(failed) == 1 and failed[0].attempts == 3  # type: ignore[attr-defined]


def test_all_vision_failing_still_records_the_request(tiny: Path) -> None:
    records = _run_with_vision(
        tiny, {"premium": FailingVision(model="a"), "cheap": FailingVision(model="b")}
    )
    requests = [r for r in records if hasattr(r, "question_id")]
    assert len(requests) == 3
    q2 = next(r for r in requests if r.question_id == "q2")  # type: ignore[attr-defined]
    # without the screen the answer declines: an abstention, its vision failure kept in error
    assert q2.status == "abstained" and q2.answer and q2.error
    assert q2.fallback_model is None
    assert q2.quality == 0.0  # the fact was only on the screen


@pytest.mark.parametrize("policy", ["change", "voice_activity"])
def test_replay_with_other_sampling_policies(tiny: Path, tmp_path: Path, policy: str) -> None:
    from assistant.ledger.queries import run_frames

    config = recorded_config()
    config = dataclasses.replace(
        config, sampling=dataclasses.replace(config.sampling, policy=policy)
    )
    with Ledger(tmp_path / "l.duckdb") as ledger:
        run_id = replay(load_dataset(tiny), ledger=ledger, config=config, run_id=policy)
        frames = run_frames(ledger, run_id)
        requests = run_requests(ledger, run_id)
    assert len(requests) == 3
    screen = requests[requests["question_id"] == "q2"].iloc[0]
    assert "2.1%" in screen.answer  # the slide that changed at 4 s was kept and read
    if policy == "change":
        assert set(frames["reason"]) <= {"first", "change", "change-unsettled", "question"}
        assert len(frames) <= 4  # two screen states, not 8 frames
    else:
        assert len(frames) >= 3


def test_a_failing_replay_keeps_what_was_flushed(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Pipeline.ask

    def ask(self: Pipeline, question):  # type: ignore[no-untyped-def]
        if question.id == "q3":
            raise RuntimeError("disk on fire")
        return original(self, question)

    monkeypatch.setattr(Pipeline, "ask", ask)
    with Ledger(tmp_path / "l.duckdb") as ledger:
        with pytest.raises(RuntimeError, match="disk on fire"):
            replay(load_dataset(tiny), ledger=ledger, config=recorded_config(), run_id="boom")
        summary = run_summary(ledger, "boom")
    assert summary.status == "failed" and summary.error == "disk on fire"
    assert summary.requests == 2  # q1 and q2 were flushed before q3 failed


def test_an_interrupted_replay_is_marked_and_keeps_its_rows(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Pipeline.ask

    def ask(self: Pipeline, question):  # type: ignore[no-untyped-def]
        if question.id == "q2":
            raise KeyboardInterrupt
        return original(self, question)

    monkeypatch.setattr(Pipeline, "ask", ask)
    with Ledger(tmp_path / "l.duckdb") as ledger:
        with pytest.raises(KeyboardInterrupt):
            replay(load_dataset(tiny), ledger=ledger, config=recorded_config(), run_id="stop")
        summary = run_summary(ledger, "stop")
    assert summary.status == "interrupted" and summary.requests == 1
    # cost per hour counts the media the run got through (to q2 at 6.5 s), not all 8 s
    assert summary.cost_per_media_hour_usd == pytest.approx(summary.total_cost_usd / 6.5 * 3600)


def test_exploration_is_logged_with_propensities(tiny: Path, tmp_path: Path) -> None:
    config = recorded_config(0.5)
    config = dataclasses.replace(
        config, routing=dataclasses.replace(config.routing, explore_share=1.0, seed=3)
    )
    with Ledger(tmp_path / "l.duckdb") as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=config, run_id="explore")
        requests = run_requests(ledger, "explore")
    assert requests["explored"].all()  # share 1.0: every request explored
    assert (requests["propensity"] == 0.5).all()  # a uniform pick between two tiers
    assert requests["threshold"].eq(0.5).all()


def test_cloud_tiers_without_keys_degrade_to_offline_with_a_notice(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env or secrets file here
    config = recorded_config(0.0)
    config = dataclasses.replace(
        config,
        llm=dataclasses.replace(config.llm, premium="anthropic:claude-sonnet-4-6"),
        vision=dataclasses.replace(config.vision, premium="google:gemini-2.5-flash"),
    )
    notices: list[str] = []
    with Ledger(tmp_path / "l.duckdb") as ledger:
        replay(
            load_dataset(tiny), ledger=ledger, config=config, run_id="nokeys", notice=notices.append
        )
        requests = run_requests(ledger, "nokeys")
    assert any("ANTHROPIC_API_KEY" in n and "local:extractive-3" in n for n in notices)
    assert any("GOOGLE_API_KEY" in n and "ocr:full" in n for n in notices)
    assert set(requests["llm_model_resolved"]) == {"local:extractive-3"}
    assert set(requests["status"]) == {"ok"}
