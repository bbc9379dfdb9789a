"""Work off the question's path: prefetched screen readings (``[vision] prefetch``) and
transcription on a worker thread (``[stt] background``)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.configs import recorded_config
from support.pipelines import collecting_pipeline

from assistant.core.config import Config, config_from_dict, load_config
from assistant.core.errors import ConfigError
from assistant.core.events import KeptFrame, Question, Usage, Utterance
from assistant.ledger import Ledger
from assistant.ledger.queries import run_calls, run_requests
from assistant.ledger.queries.runs import run_utterances
from assistant.ledger.records import CallRecord, RequestRecord
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.stages import make_stages
from assistant.pipeline.tiers import TierPair
from assistant.providers.base import HookOutput
from assistant.providers.stt.base import Segment, Transcriber
from assistant.providers.vision.base import VisionProvider
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay, resume
from assistant.sessions.sources.recorded import RecordedSource

READ_S = 0.05  # how long the fake screen reading takes


class SlowVision(VisionProvider):
    """A screen reading that takes ``READ_S``; says which thread ran it."""

    provider = "fake"

    def __init__(self, *, model: str) -> None:
        super().__init__(model=model)
        self.threads: list[str] = []

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        self.threads.append(threading.current_thread().name)
        time.sleep(READ_S)
        return HookOutput(f"Churn fell to 2.1% ({self.model})", Usage(image_count=1))


class ScriptedTranscriber(Transcriber):
    """Deterministic: one utterance per segment, naming its length; says which thread ran it."""

    provider = "fake"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threads: list[str] = []

    def _transcribe_impl(self, segment: Segment) -> HookOutput[list[Utterance]]:
        self.threads.append(threading.current_thread().name)
        time.sleep(0.005)  # long enough for the media to move on meanwhile
        text = f"{segment.participant} spoke {len(segment.samples)} samples"
        said = Utterance(segment.participant, segment.start_s, segment.end_s, text)
        return HookOutput([said], Usage())


PRICES = {"fake:cheap": {"usd_per_image": 0.01}, "fake:premium": {"usd_per_image": 0.03}}


def _config(threshold: float, prefetch: str = "off", *, background: bool = False) -> Config:
    config = recorded_config(threshold)
    return dataclasses.replace(
        config,
        vision=dataclasses.replace(config.vision, prefetch=prefetch),
        stt=dataclasses.replace(config.stt, background=background),
        pricing=dataclasses.replace(config.pricing, overrides=PRICES),
    )


def _drive(
    tiny: Path, config: Config, *, transcriber: Transcriber | None = None
) -> tuple[list[Any], TierPair[SlowVision]]:
    """Every event of the tiny session through a pipeline with fake vision tiers; before each
    question, the background readings are let finish (the screen was on long enough)."""
    dataset = load_dataset(tiny)
    vision = TierPair(cheap=SlowVision(model="cheap"), premium=SlowVision(model="premium"))
    stages = make_stages(config, dataset).with_(vision=vision)
    if transcriber is not None:
        stages = stages.with_(transcriber=transcriber)
    pipeline, records = collecting_pipeline(
        dataset, config, stages=stages, background_stt=config.stt.background,
    )
    for event in RecordedSource(dataset).events():
        if isinstance(event, Question) and pipeline.prefetcher is not None:
            assert pipeline.prefetcher.wait(timeout_s=30)
        pipeline.handle(event)
        pipeline.settle()
    pipeline.finish()
    return records, vision


def _requests(records: list[Any]) -> dict[str, RequestRecord]:
    return {r.question_id: r for r in records if isinstance(r, RequestRecord)}


# -- configuration ---------------------------------------------------------------------------
def test_prefetch_setting_is_validated_in_one_line() -> None:
    assert Config().vision.prefetch == "off"
    assert config_from_dict({"vision": {"prefetch": "cheap"}}).vision.prefetch_tiers == ("cheap",)
    assert config_from_dict({"vision": {"prefetch": "both"}}).vision.prefetch_tiers == (
        "cheap",
        "premium",
    )
    with pytest.raises(ConfigError) as bad:
        config_from_dict({"vision": {"prefetch": "always"}})
    message = str(bad.value)
    assert "\n" not in message and "'always'" in message
    assert all(f"'{v}'" in message for v in ("off", "cheap", "premium", "both"))
    with pytest.raises(ConfigError, match=r"known: cheap, premium$"):
        config_from_dict({"llm": {"prefetch": "cheap"}})  # the answer tiers read no screens
    in_code = dataclasses.replace(
        Config(), vision=dataclasses.replace(Config().vision, prefetch="yes")
    )
    with pytest.raises(ConfigError, match=r"vision\.prefetch must be one of"):
        in_code.with_routing()  # a config made in code is validated as a file's is


def test_prefetch_and_background_survive_a_runs_stored_config(tmp_path: Path) -> None:
    config = _config(0.5, "premium", background=True)
    again = config_from_dict(json.loads(config.to_json()), where="run")
    assert again == config and again.vision.prefetch == "premium" and again.stt.background
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert load_config(path) == config


# -- prefetch --------------------------------------------------------------------------------
@pytest.mark.parametrize(("threshold", "prefetch"), [(1.0, "cheap"), (0.0, "premium")])
def test_a_prefetched_reading_costs_the_question_no_wait(
    tiny: Path, threshold: float, prefetch: str
) -> None:
    plain, plain_vision = _drive(tiny, _config(threshold))
    ahead, ahead_vision = _drive(tiny, _config(threshold, prefetch))
    before, after = _requests(plain), _requests(ahead)
    assert [r.answer for r in before.values()] == [r.answer for r in after.values()]
    assert (
        before["q2"].vision_model_resolved
        == after["q2"].vision_model_resolved
        == (f"fake:{prefetch}")
    )
    assert before["q2"].vision_latency_ms >= READ_S * 1000  # the question waited for the read
    assert after["q2"].vision_latency_ms < 5.0  # it was read while the media went on
    # the request's vision call is the prefetched one: its own duration, priced to the request
    used = [c for c in ahead if isinstance(c, CallRecord) and c.request_id == "r:q2"]
    (read,) = [c for c in used if c.stage == "vision"]
    assert (
        read.latency_ms >= READ_S * 1000
        and read.cost_usd == PRICES[f"fake:{prefetch}"]["usd_per_image"]
    )
    assert after["q2"].vision_cost_usd == before["q2"].vision_cost_usd == read.cost_usd
    assert after["q2"].total_latency_ms < before["q2"].total_latency_ms
    assert all(t.startswith("vision-prefetch") for t in ahead_vision[prefetch].threads)
    assert all(t == "MainThread" for t in plain_vision[prefetch].threads)


def test_prefetched_readings_are_priced_once_and_unused_ones_kept(tiny: Path) -> None:
    records, vision = _drive(tiny, _config(1.0, "both"))
    calls = [c for c in records if isinstance(c, CallRecord) and c.stage == "vision"]
    assert len({c.call_id for c in records if isinstance(c, CallRecord)}) == len(
        [c for c in records if isinstance(c, CallRecord)]
    )
    made = len(vision.cheap.threads) + len(vision.premium.threads)
    assert len(calls) == made  # every reading made is one call row, none twice
    unused = [c for c in calls if c.request_id is None]
    assert unused and all(c.cost_usd > 0 for c in unused)  # the premium reads nobody asked for
    assert {c.model_requested for c in unused} >= {"premium"}
    requests = _requests(records)
    assert sum(c.cost_usd for c in calls) == pytest.approx(
        sum(r.vision_cost_usd for r in requests.values()) + sum(c.cost_usd for c in unused)
    )


def test_a_replay_with_prefetch_stores_and_prices_its_readings(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``replay`` and the ledger: the question's reading is the one made in the
    background, stored as its request's call; the readings nobody took are stored, priced."""
    import assistant.sessions.replay as replay_module

    made: list[TierPair[SlowVision]] = []
    original = replay_module.dataset_stages

    def with_fake_vision(*args: Any, **kwargs: Any) -> Any:
        made.append(TierPair(cheap=SlowVision(model="cheap"), premium=SlowVision(model="premium")))
        return original(*args, **kwargs).with_(vision=made[-1])

    monkeypatch.setattr(replay_module, "dataset_stages", with_fake_vision)
    dataset = load_dataset(tiny)
    with Ledger(tmp_path / "l.duckdb") as ledger:
        replay(dataset, ledger=ledger, config=_config(1.0), run_id="plain")
        replay(dataset, ledger=ledger, config=_config(1.0, "cheap"), run_id="ahead")
        plain_answers = list(run_requests(ledger, "plain")["answer"])
        requests = run_requests(ledger, "ahead")
        calls = run_calls(ledger, "ahead")
    assert list(requests["answer"]) == plain_answers
    cheap = made[-1].cheap
    assert cheap.threads and all(t.startswith("vision-prefetch") for t in cheap.threads)
    vision = calls[calls["stage"] == "vision"]
    assert len(vision) == len(cheap.threads)  # each reading made is one stored call
    assert (vision["cost_usd"] == PRICES["fake:cheap"]["usd_per_image"]).all()
    used = vision[vision["request_id"].notna()]
    assert list(used["request_id"]) == ["ahead:q2"]  # the question took the prefetched reading
    q2 = requests[requests["question_id"] == "q2"].iloc[0]
    assert q2["vision_cost_usd"] == pytest.approx(used["cost_usd"].sum())
    assert q2["vision_latency_ms"] <= used["latency_ms"].iloc[0]


# -- background transcription ----------------------------------------------------------------
_TIMED = ("latency", "compute_s", "cost_usd", "ttft", "created_at", "spent")


def _untimed(records: list[Any]) -> list[str]:
    """The records without their measured times and what those price, in a stable order."""
    rows = []
    for record in records:
        fields = {
            k: v
            for k, v in dataclasses.asdict(record).items()
            if not any(word in k for word in _TIMED)
        }
        rows.append(json.dumps([type(record).__name__, fields], sort_keys=True, default=str))
    return sorted(rows)


def test_background_transcription_gives_a_sequential_runs_rows(tiny: Path) -> None:
    config = _config(0.5)
    scripted = {flag: ScriptedTranscriber(model="s", config=config.stt) for flag in (False, True)}
    sequential, _ = _drive(tiny, config, transcriber=scripted[False])
    background, _ = _drive(
        tiny,
        dataclasses.replace(config, stt=dataclasses.replace(config.stt, background=True)),
        transcriber=scripted[True],
    )
    assert scripted[True].threads and all(
        t.startswith("transcription") for t in scripted[True].threads
    )
    assert all(t == "MainThread" for t in scripted[False].threads)
    assert _untimed(background) == _untimed(sequential)  # call ids included
    said = [r for r in background if type(r).__name__ == "UtteranceRecord"]
    assert len(said) == len(scripted[True].threads) >= 2


def test_a_background_replay_resumes_to_the_same_rows(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = load_dataset(tiny)
    config = _config(0.5, "cheap", background=True)
    with Ledger(tmp_path / "l.duckdb") as ledger:
        replay(dataset, ledger=ledger, config=_config(0.5), run_id="sequential")
        original = Pipeline.ask

        def ask(self: Pipeline, question):  # type: ignore[no-untyped-def]
            if question.id == "q3":
                raise KeyboardInterrupt
            return original(self, question)

        monkeypatch.setattr(Pipeline, "ask", ask)
        with pytest.raises(KeyboardInterrupt):
            replay(dataset, ledger=ledger, config=config, run_id="stopped")
        monkeypatch.undo()
        resume(dataset, ledger=ledger, run_id="stopped")
        said = {
            run: run_utterances(ledger, run)[["participant", "start_s", "text"]].values.tolist()
            for run in ("sequential", "stopped")
        }
        answers = {run: list(run_requests(ledger, run)["answer"]) for run in said}
        stt = run_calls(ledger, "stopped")
        stt = stt[stt["stage"] == "stt"]
    assert said["stopped"] == said["sequential"] and len(said["stopped"]) >= 2
    assert answers["stopped"] == answers["sequential"]
    assert len(stt) == len(said["stopped"])  # no segment transcribed twice


def test_a_live_room_prefetches_too(tiny: Path, tmp_path: Path) -> None:
    """A live session with ``prefetch = "both"`` answers as one without, and stores the
    readings nobody took as priced vision calls with no request."""
    pytest.importorskip("livekit.rtc")
    from test_live_session import Now, drive

    from assistant.sessions.live import LiveSession
    from assistant.sessions.sources.livekit import MediaClock

    dataset = load_dataset(tiny)
    answers: dict[str, list[str]] = {}
    for prefetch in ("off", "both"):
        config = _config(0.5, prefetch)
        now, said = Now(), []
        session = LiveSession(
            ledger=tmp_path / f"{prefetch}.duckdb",
            config=config,
            stages=make_stages(config, dataset),
            tenant=dataset.tenant,
            room=dataset.room,
            source_ref=f"tenant_{dataset.tenant}_{dataset.room}",
            on_answer=said.append,
            clock=MediaClock(now=now, start=0.0),
            max_video_backlog=100_000,
            run_id=f"live-{prefetch}",
        )
        session.start()
        drive(session, dataset, now)
        session.close()
        answers[prefetch] = [a.text for a in said]
    assert answers["both"] == answers["off"] and len(answers["off"]) == 3
    with Ledger(tmp_path / "both.duckdb") as ledger:
        calls = run_calls(ledger, "live-both")
    vision = calls[calls["stage"] == "vision"]
    unused = vision[vision["request_id"].isna()]
    assert len(unused) >= 1 and unused["cost_usd"].notna().all()  # priced by its CPU seconds
    assert set(vision["model_requested"]) == {"low", "full"}  # both tiers read ahead


def test_whisper_threads_is_a_spec_option() -> None:
    from assistant.core.config import SttConfig
    from assistant.providers import registry

    one = registry.make_stt("whisper:tiny.en?threads=1", SttConfig())
    assert one.threads == 1 and one.spec == "whisper:tiny.en?threads=1"  # type: ignore[attr-defined]
    both = registry.make_stt("whisper:tiny.en?batched=1&threads=2", SttConfig())
    assert both.spec == "whisper:tiny.en?batched=1&threads=2"
    assert registry.make_stt("whisper:tiny.en", SttConfig()).spec == "whisper:tiny.en"
    assert not one.fallback  # type: ignore[attr-defined]  # decoded once, greedily, by default
    hot = registry.make_stt("whisper:tiny.en?fallback=1", SttConfig())
    assert hot.spec == "whisper:tiny.en?fallback=1" and hot.fallback  # type: ignore[attr-defined]
    assert registry.make_stt("whisper:tiny.en?fallback=0", SttConfig()).spec == "whisper:tiny.en"
    for bad in ("threads=0", "threads=99", "threads=two", "fallback=2"):
        with pytest.raises(ConfigError, match=r"'threads=N' \(1 to 8\) or 'fallback=0\|1'"):
            registry.make_stt(f"whisper:tiny.en?{bad}", SttConfig())
