"""The call cache across runs: keys by content, a second replay that makes no provider call and
answers the same, ``--no-cache``, cloud providers cached only when asked, ``ledger cache``, and
migration 12 on an old ledger."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from support.configs import recorded_config
from support.fakes.vendors import FakeVendors

from assistant.cli.registry import main
from assistant.core.config import Config, SttConfig
from assistant.core.events import Answer, KeptFrame, Passage, Usage, Utterance
from assistant.ledger import Ledger
from assistant.ledger import schema as ledger_schema
from assistant.ledger.queries import run_calls, run_requests, run_summary
from assistant.ledger.schema import migrate
from assistant.providers.base import HookOutput, Provider
from assistant.providers.cache import CallCache
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.stt.base import Segment, Transcriber
from assistant.providers.vision.base import VisionProvider
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

# -- keys ------------------------------------------------------------------------------------------


class CountingTranscriber(Transcriber):
    provider = "fake-stt"

    def __init__(self, *, model: str = "m1", config: SttConfig | None = None) -> None:
        super().__init__(model=model, config=config)
        self.calls = 0

    def _transcribe_impl(self, segment: Segment) -> HookOutput[list[Utterance]]:
        self.calls += 1
        return HookOutput(
            [Utterance(segment.participant, segment.start_s, segment.end_s, "hello", 0.9)],
            Usage(),
        )


class CountingVision(VisionProvider):
    provider = "fake-vision"

    def __init__(self, *, model: str = "m1") -> None:
        super().__init__(model=model)
        self.calls = 0

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        self.calls += 1
        return HookOutput(f"screen {frame.digest}", Usage(image_count=1))


class CountingLLM(LLM):
    provider = "fake-llm"

    def __init__(self, *, model: str = "m1") -> None:
        super().__init__(model=model)
        self.calls = 0

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        self.calls += 1
        return HookOutput(
            Answer(f"re: {request.question}", (Passage("kb:a#1", "A", 0.5),)), Usage(10, 2)
        )


def segment(*, samples: np.ndarray | None = None, start_s: float = 1.0, who: str = "alice") -> Segment:
    audio = np.arange(1600, dtype=np.int16) if samples is None else samples
    return Segment(who, start_s, audio, 16_000)


def kept(digest: str = "d1") -> KeptFrame:
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    return KeptFrame(track="screen", t_s=1.0, rgb=rgb, digest=digest, reason="change", change_score=1.0)


REQUEST = AnswerRequest("when is the launch?", knowledge=(Passage("kb:a#1", "March 14", 1.5),))


def test_a_transcription_is_looked_up_by_its_audio_and_made_once() -> None:
    cache = CallCache()
    stt = CountingTranscriber()
    stt.use_cache(cache)
    first = stt.transcribe(segment())
    again = stt.transcribe(segment())
    assert stt.calls == 1 and not first.cached and again.cached
    assert again.value == first.value and again.usage == first.usage
    assert again.original_latency_ms == first.latency_ms and again.attempts == 0
    assert first.cache_key is not None and first.cache_json is not None
    # another instance (another run) computes the same key: stable
    other = CountingTranscriber()
    other.use_cache(CallCache())
    assert other.cache_key("stt", ("x",)) == stt.cache_key("stt", ("x",))
    stt.transcribe(segment(samples=np.arange(1, 1601, dtype=np.int16)))  # other audio
    stt.transcribe(segment(start_s=2.0))  # the same audio elsewhere: other utterance times
    stt.transcribe(segment(who="bob"))
    assert stt.calls == 4
    for changed in (
        CountingTranscriber(model="m2"),
        CountingTranscriber(config=SttConfig(language="de")),
    ):
        changed.use_cache(cache)
        changed.transcribe(segment())
        assert changed.calls == 1, changed


def test_a_screen_reading_is_looked_up_by_its_frame_not_its_question() -> None:
    cache = CallCache()
    vision = CountingVision()
    vision.use_cache(cache)
    first = vision.analyze(kept(), "what is on screen?")
    again = CountingVision()  # a new run: nothing in the provider's own per-frame memory
    again.use_cache(cache)
    hit = again.analyze(kept(), "another question")
    assert again.calls == 0 and hit.cached and hit.value == first.value
    again.analyze(kept("d2"), "what is on screen?")
    other_model = CountingVision(model="m2")
    other_model.use_cache(cache)
    other_model.analyze(kept(), "what is on screen?")
    assert again.calls == 1 and other_model.calls == 1


def test_an_answer_is_looked_up_by_its_prompt_and_model() -> None:
    cache = CallCache()
    llm = CountingLLM()
    llm.use_cache(cache)
    first = llm.answer(REQUEST)
    hit = llm.answer(dataclasses.replace(REQUEST))
    assert llm.calls == 1 and hit.cached and hit.value == first.value
    llm.answer(dataclasses.replace(REQUEST, question="when is the launch"))
    llm.answer(
        dataclasses.replace(REQUEST, knowledge=(Passage("kb:a#1", "March 15", 1.5),))
    )
    llm.answer(dataclasses.replace(REQUEST, screen=REQUEST.knowledge, knowledge=()))
    assert llm.calls == 4
    other = CountingLLM(model="m2")
    other.use_cache(cache)
    other.answer(REQUEST)
    assert other.calls == 1
    uncached = CountingLLM()
    uncached.answer(REQUEST)
    uncached.answer(REQUEST)
    assert uncached.calls == 2 and uncached.cache_key("llm", ("x",)) is None


def test_a_provider_that_is_not_cacheable_never_is() -> None:
    class Stateful(CountingTranscriber):
        cacheable = False

    stt = Stateful()
    stt.use_cache(CallCache())
    stt.transcribe(segment())
    stt.transcribe(segment())
    assert stt.calls == 2


# -- replays ---------------------------------------------------------------------------------------


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Provider calls really made (the hook's retry loop entered), by provider spec."""
    counts: dict[str, int] = {}
    attempts = Provider._attempts

    def counted(self: Provider, hook: Callable[[], Any]) -> Any:
        counts[self.spec] = counts.get(self.spec, 0) + 1
        return attempts(self, hook)

    monkeypatch.setattr(Provider, "_attempts", counted)
    return counts


def _replay(path: Path, tiny: Path, run_id: str, config: Config, notices: list[str] | None = None) -> None:
    replay(
        load_dataset(tiny),
        ledger=path,
        config=config,
        run_id=run_id,
        notice=None if notices is None else notices.append,
    )


def _provider_results(ledger: Ledger) -> int:
    """Stored provider results (not the sampler's frame index, ``sessions.frame_index``)."""
    query = "SELECT count(*) FROM call_cache WHERE stage <> 'sampler'"
    return int(ledger.cursor().execute(query).fetchall()[0][0])


def test_a_second_replay_makes_no_provider_call_and_answers_the_same(
    tiny: Path, tmp_path: Path, made: dict[str, int]
) -> None:
    path = tmp_path / "l.duckdb"
    config = Config().with_threshold(0.5)  # whisper, OCR and the extractive answerer: all local
    _replay(path, tiny, "first", config)
    first_made = dict(made)
    assert {"whisper:tiny.en", "local:extractive-1"} <= set(first_made)
    assert any(spec.startswith("ocr:") for spec in first_made)
    made.clear()
    notices: list[str] = []
    _replay(path, tiny, "second", config, notices)
    assert made == {}
    assert any("call cache:" in n for n in notices)
    with Ledger(path) as ledger:
        one, two = run_requests(ledger, "first"), run_requests(ledger, "second")
        calls_1, calls_2 = run_calls(ledger, "first"), run_calls(ledger, "second")
        summary = run_summary(ledger, "second")
        stored = _provider_results(ledger)
    assert list(two["answer"]) == list(one["answer"]) and list(two["tier"]) == list(one["tier"])
    # a request's cost is its calls' as if paid: the same in both runs, cache or not
    assert list(two["llm_cost_usd"]) == pytest.approx(list(one["llm_cost_usd"]))
    assert list(two["vision_cost_usd"]) == pytest.approx(list(one["vision_cost_usd"]))
    made_calls = calls_2[calls_2["stage"] != "retrieval"]
    assert made_calls["cached"].all() and (made_calls["cost_usd"] == 0).all()
    assert (made_calls["original_cost_usd"] > 0).all()
    assert stored == sum(first_made.values())
    original = calls_1[calls_1["stage"] != "retrieval"].set_index("call_id")["latency_ms"]
    assert sorted(made_calls["original_latency_ms"]) == pytest.approx(sorted(original))
    assert not calls_1["cached"].any()
    assert summary.cached_calls == len(made_calls)
    assert summary.total_cost_usd < summary.cost_if_paid_usd
    assert summary.cost_if_paid_usd == pytest.approx(
        summary.total_cost_usd + made_calls["original_cost_usd"].sum()
    )


def test_no_cache_makes_every_call_and_stores_none(
    tiny: Path, tmp_path: Path, made: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l.duckdb"
    _replay(path, tiny, "first", recorded_config(cascade=True))  # as the command's defaults
    first_made = dict(made)
    made.clear()
    args = ["replay", str(tiny), "--ledger", str(path), "--stt", "recorded", "--quiet"]
    assert main([*args, "--threshold", "0.5", "--no-cache", "--run-id", "nocache"]) == 0
    assert made == first_made and made  # every call again
    assert "call cache off" in capsys.readouterr().err
    with Ledger(path) as ledger:
        calls = run_calls(ledger, "nocache")
        stored = _provider_results(ledger)
    # the recorded transcript is not a model call: never cached
    cacheable = {k: n for k, n in first_made.items() if not k.startswith("recorded:")}
    assert not calls["cached"].any() and stored == sum(cacheable.values())
    made.clear()
    assert main([*args, "--threshold", "0.5", "--run-id", "cached"]) == 0
    assert set(made) == {"recorded:ground-truth"}
    out = capsys.readouterr().out
    assert "calls answered from it" in out and "cost if paid now" in out


def _cloud(cache: bool | None) -> Config:
    config = recorded_config()
    return dataclasses.replace(
        config,
        llm=dataclasses.replace(config.llm, cheap="openai:gpt-4o-mini", premium="openai:gpt-4o"),
        calls=dataclasses.replace(config.calls, cache=cache),
    )


@pytest.fixture
def vendors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeVendors]:
    with FakeVendors() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cache")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        monkeypatch.chdir(tmp_path)
        yield fake


def test_cloud_calls_are_cached_only_when_the_config_says_so(
    tiny: Path, tmp_path: Path, vendors: FakeVendors
) -> None:
    path = tmp_path / "l.duckdb"
    notices: list[str] = []
    _replay(path, tiny, "a", _cloud(None), notices)
    sent = len(vendors.of("openai"))
    assert sent == 3  # one answer per question
    assert any("cloud calls (openai:gpt-4o" in n and "[calls] cache = true" in n for n in notices)
    _replay(path, tiny, "b", _cloud(None))
    assert len(vendors.of("openai")) == 2 * sent  # not cached: asked again
    notices.clear()
    _replay(path, tiny, "c", _cloud(True), notices)
    assert len(vendors.of("openai")) == 3 * sent  # nothing stored yet: asked, and kept
    assert any("cloud calls of openai:gpt-4o" in n for n in notices)
    _replay(path, tiny, "d", _cloud(True))
    assert len(vendors.of("openai")) == 3 * sent  # answered from the cache
    with Ledger(path) as ledger:
        one, four = run_requests(ledger, "c"), run_requests(ledger, "d")
        llm = run_calls(ledger, "d").query("stage == 'llm'")
    assert list(four["answer"]) == list(one["answer"])
    assert llm["cached"].all() and (llm["cost_usd"] == 0).all()
    assert (llm["original_cost_usd"] > 0).all()  # priced from the original's tokens


# -- the command and the migration -----------------------------------------------------------------


def test_ledger_cache_stats_and_clear(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l.duckdb"
    assert main(["ledger", "cache", "--stats", "--ledger", str(tmp_path / "none.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    _replay(path, tiny, "first", recorded_config())
    _replay(path, tiny, "second", recorded_config())
    assert main(["ledger", "cache", "--stats", "--ledger", str(path)]) == 0
    out = capsys.readouterr().out
    assert "stored results" in out and "not paid" in out
    assert "local:extractive-" in out and "ocr:" in out and "vision" in out
    assert "sampler:fixed" in out  # the frame index (sessions/frame_index.py) is listed too
    with Ledger(path, read_only=True) as ledger:
        hits = run_summary(ledger, "second").cached_calls
    assert f"{hits} calls answered from it" in out
    assert main(["ledger", "cache", "--clear", "--ledger", str(path)]) == 0
    assert "stored results deleted" in capsys.readouterr().out
    with Ledger(path, read_only=True) as ledger:
        assert ledger.cursor().execute("SELECT count(*) FROM call_cache").fetchall()[0][0] == 0
        assert run_summary(ledger, "second").cached_calls == hits  # history is kept
    assert main(["ledger", "cache", "--stats", "--ledger", str(path)]) == 0
    assert "hits" in capsys.readouterr().out  # the hits of the runs are still counted
    with pytest.raises(SystemExit) as refused:  # --stats or --clear
        main(["ledger", "cache", "--ledger", str(path)])
    assert refused.value.code == 2
    assert "--stats --clear is required" in capsys.readouterr().err


def test_an_old_ledger_gets_the_call_cache_and_keeps_its_costs(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert migrate(con, migrations=ledger_schema.MIGRATIONS[:11])[-1] == "fleet_heartbeat"
    con.execute(
        "INSERT INTO runs (run_id, source_kind, source_ref, tenant, room, config_json, "
        "config_hash, started_at, status) VALUES ('old', 'recorded', 'x', 't', 'r', '{}', 'h', "
        "now(), 'finished')"
    ).fetchall()
    con.execute(
        "INSERT INTO calls (call_id, run_id, tenant, stage, provider, model_requested, "
        "media_t_s, latency_ms, input_tokens, output_tokens, image_count, audio_s, compute_s, "
        "cost_usd, attempts, status, created_at) VALUES ('old:000000', 'old', 't', 'llm', "
        "'openai', 'gpt-4o', 1.0, 800.0, 100, 20, 0, 0.0, 0.0, 0.25, 1, 'ok', now())"
    ).fetchall()
    con.close()
    with Ledger(path) as ledger:
        assert ledger.applied_migrations == ["call_cache", "screen_layout"]
        calls = run_calls(ledger, "old")
        summary = run_summary(ledger, "old")
    assert calls["cached"].isna().all() and calls["original_cost_usd"].isna().all()
    assert summary.total_cost_usd == summary.cost_if_paid_usd == 0.25
    assert summary.cached_calls == 0


def test_the_cache_works_on_a_lake_too(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made: dict[str, int]
) -> None:
    from assistant.ledger.sink import LakeSink, open_sink

    monkeypatch.setenv("WORKBENCH_LAKE_DATA", str(tmp_path / "lake-data"))
    lake = f"ducklake:{tmp_path / 'catalog.ducklake'}"
    for run_id in ("first", "second"):
        made.clear()
        sink = open_sink(lake)
        assert isinstance(sink, LakeSink)
        with sink:
            replay(load_dataset(tiny), ledger=sink, config=recorded_config(), run_id=run_id)
        if run_id == "first":
            assert set(made) > {"recorded:ground-truth"}
    assert set(made) == {"recorded:ground-truth"}  # the transcript is no model call
    with Ledger(lake) as ledger:
        assert run_summary(ledger, "second").cached_calls > 0
        answers = [list(run_requests(ledger, r)["answer"]) for r in ("first", "second")]
    assert answers[0] == answers[1]


def test_a_second_both_tiers_replay_costs_its_outcomes_as_if_paid(
    tiny: Path, tmp_path: Path, made: dict[str, int]
) -> None:
    from assistant.ledger.queries import run_tier_outcomes

    path = tmp_path / "l.duckdb"
    for run_id in ("first", "second"):
        made.clear()
        replay(load_dataset(tiny), ledger=path, config=recorded_config(), run_id=run_id,
               both_tiers=True)
    assert set(made) == {"recorded:ground-truth"}  # both tiers answered from the cache
    with Ledger(path) as ledger:
        costs = []
        for run_id in ("first", "second"):
            outcomes = run_tier_outcomes(ledger, run_id).set_index(["request_id", "tier"])
            shared = run_requests(ledger, run_id).set_index("request_id")["retrieval_cost_usd"]
            outcomes.index = outcomes.index.set_levels(
                [i.split(":")[-1] for i in outcomes.index.levels[0]], level=0
            )
            shared.index = [i.split(":")[-1] for i in shared.index]
            own = outcomes["cost_usd"] - shared.reindex(outcomes.index.get_level_values(0)).values
            costs.append(own.sort_index())
    assert len(costs[1]) == 6 and (costs[1] > 0).all()
    assert list(costs[1]) == pytest.approx(list(costs[0]), rel=1e-9)


def test_no_cache_on_a_both_tiers_rerun_asks_every_answer_again(
    tiny: Path, tmp_path: Path, made: dict[str, int]
) -> None:
    path = tmp_path / "l.duckdb"
    off = dataclasses.replace(
        recorded_config(), calls=dataclasses.replace(recorded_config().calls, cache=False)
    )
    replay(load_dataset(tiny), ledger=path, config=recorded_config(), run_id="a", both_tiers=True)
    first = dict(made)
    made.clear()
    replay(load_dataset(tiny), ledger=path, config=off, run_id="b", both_tiers=True)
    assert made == first  # no stored answer, no cached call; and no answer stored twice
    with Ledger(path) as ledger:
        keys = ledger.cursor().execute(
            "SELECT count(*), count(DISTINCT key) FROM answer_cache"
        ).fetchall()[0]
    assert keys[0] == keys[1] > 0
