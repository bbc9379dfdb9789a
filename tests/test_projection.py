"""The cost projection: token counts against the vendor tokenizer, image-token rules against each
vendor's documented examples, scenarios, projection rows of a replay, and measured costs left as
they were."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from support.configs import recorded_config

from assistant.analysis.projection import projected_run
from assistant.core.errors import ConfigError, LedgerError
from assistant.ledger import Ledger
from assistant.ledger.queries.projection import run_projection, run_request_inputs
from assistant.ledger.records import ProjectionRecord, RequestInputRecord
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.recorder import RequestRecorder
from assistant.pipeline.stages import make_stages
from assistant.pricing import tokens as tok
from assistant.pricing.prices import Pricer
from assistant.pricing.projection import (
    DEFAULT_SCENARIOS,
    check_scenario,
    load_scenarios,
    pick_scenarios,
)
from assistant.providers.llm.prompts import SYSTEM_PROMPT
from assistant.sessions.datasets import load_dataset
from assistant.sessions.projection import project_run
from assistant.sessions.replay import replay
from assistant.sessions.sources.recorded import RecordedSource

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "datasets" / "demo"


# --- text tokens: tiktoken, offline -------------------------------------------------------------


def test_bundled_bpe_files_are_the_ones_tiktoken_pins() -> None:
    import tiktoken_ext.openai_public as public

    source = inspect.getsource(public)
    for name, digest in tok.BPE_SHA256.items():
        assert f'expected_hash="{digest}"' in source, name
        assert tok._encoding(name) is not None  # loaded and its hash checked


def test_counts_are_tiktokens_own() -> None:
    # the OpenAI cookbook ("How to count tokens with tiktoken"): "tiktoken is great!" is 6
    # cl100k_base tokens; o200k_base encodes "hello world" as [24912, 2375]
    assert tok._encoding("cl100k_base").encode("tiktoken is great!") == [
        83,
        1609,
        5963,
        374,
        2294,
        0,
    ]
    assert tok._encoding("o200k_base").encode("hello world") == [24912, 2375]
    count = tok.count_text("hello world", provider="openai", model="gpt-4o-mini")
    assert count == tok.Count(2, "tiktoken:o200k_base")


def test_chat_framing_and_marked_estimates() -> None:
    system, user = SYSTEM_PROMPT, "Context:\n[1] (screen) Q3 revenue $4.2M\n\nQuestion: Revenue?"
    exact = tok.count_messages([system, user], provider="openai", model="gpt-4o")
    parts = sum(tok.count_text(t, provider="openai", model="gpt-4o").tokens for t in (system, user))
    assert exact == tok.Count(parts + 3 * 2 + 3, "tiktoken:o200k_base")
    for provider, model in (("anthropic", "claude-sonnet-4-5"), ("google", "gemini-2.0-flash")):
        estimate = tok.count_messages([system, user], provider=provider, model=model)
        assert estimate.method == "estimate:chars/4"
        assert estimate.tokens == -(-len(system) // 4) + -(-len(user) // 4)


# --- image tokens: each vendor's documented examples --------------------------------------------


def test_openai_image_tokens_match_the_vision_guide() -> None:
    # platform.openai.com/docs/guides/images-vision#calculating-costs: 1024x1024 high detail is
    # 765 tokens (4 tiles); 2048x4096 is scaled to 768x1536, 6 tiles, 1105 tokens
    assert tok.openai_image_tokens(1024, 1024, "gpt-4o") == 765
    assert tok.openai_image_tokens(2048, 4096, "gpt-4o") == 1105
    assert tok.openai_image_tokens(4096, 8192, "gpt-4o-2024-08-06") == 1105
    # gpt-4o-mini: 2833 base + 5667 per tile (the guide's table: the same dollars per image)
    assert tok.openai_image_tokens(1024, 1024, "gpt-4o-mini") == 2833 + 4 * 5667
    assert (
        tok.openai_image_tokens(128, 64, "gpt-4o-mini-2024-07-18") == 2833 + 5667
    )  # never enlarged
    # patch models: 1024x1024 is 1024 patches; 1800x2400 is scaled to 1452 patches; x multiplier
    assert tok.openai_image_tokens(1024, 1024, "gpt-4.1-mini") == 1659  # 1024 x 1.62
    assert tok.openai_image_tokens(1800, 2400, "gpt-4.1-nano") == -(-1452 * 246 // 100)
    with pytest.raises(ConfigError, match="no image-token rule for openai:davinci"):
        tok.openai_image_tokens(100, 100, "davinci")


def test_anthropic_image_tokens_match_the_vision_docs() -> None:
    # docs.claude.com/en/docs/build-with-claude/vision: tokens = width * height / 750; 200x200
    # is ~54, 1000x1000 ~1334, 1092x1092 ~1590
    assert tok.anthropic_image_tokens(200, 200) == 54
    assert tok.anthropic_image_tokens(1000, 1000) == 1334
    assert tok.anthropic_image_tokens(1092, 1092) == 1590
    # the largest sizes per aspect ratio that are not resized keep their own ~1,600 tokens
    for w, h in ((1092, 1092), (951, 1268), (896, 1344), (819, 1456), (784, 1568)):
        assert tok.anthropic_image_tokens(w, h) == -(-(w * h) // 750)
    # larger images are scaled down first (long edge 1568, ~1,600 tokens)
    assert 1550 <= tok.anthropic_image_tokens(4000, 4000) <= 1600
    assert tok.anthropic_image_tokens(1280, 720) == 1229


def test_gemini_image_tokens_follow_the_documented_tiling() -> None:
    # ai.google.dev/gemini-api/docs/tokens: both sides <= 384 px: 258 tokens; larger images are
    # cut into tiles of min(w, h) / 1.5 (kept in 256..768 px), 258 tokens each (Vertex AI)
    assert tok.gemini_image_tokens(384, 384) == 258
    assert tok.gemini_image_tokens(200, 100) == 258
    assert tok.gemini_image_tokens(1280, 720) == 6 * 258  # tile 480: 3 x 2
    assert tok.gemini_image_tokens(1024, 1024) == 4 * 258  # tile 682.7: 2 x 2
    assert tok.gemini_image_tokens(3000, 300) == 12 * 2 * 258  # tile at least 256 px
    assert tok.gemini_image_tokens(3072, 3072) == 16 * 258  # tile at most 768 px


# --- scenarios ----------------------------------------------------------------------------------


def test_shipped_scenarios_are_priced_and_have_image_rules() -> None:
    scenarios = load_scenarios()
    assert set(DEFAULT_SCENARIOS) <= set(scenarios)
    seed = scenarios["seed"]
    assert seed.vision == {
        "cheap": "google:gemini-2.0-flash",
        "premium": "anthropic:claude-sonnet-4-5",
    }
    assert seed.llm == {"cheap": "openai:gpt-4o-mini", "premium": "openai:gpt-4o"}
    assert seed.stt.startswith("deepgram:")
    for scenario in scenarios.values():
        check_scenario(scenario, Pricer())  # every model in genai-prices, every vision rule known


def test_bad_scenarios_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no price scenario named 'nope'; known: budget, seed"):
        pick_scenarios(["nope"])
    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[mine]\nstt = "deepgram:nova-3"\nvision = { cheap = "google:gemini-2.0-flash", '
        'premium = "google:gemini-2.5-flash" }\nllm = { cheap = "openai:gpt-4o-mini", '
        'premium = "acme:mystery-1" }\n'
    )
    (mine,) = pick_scenarios(["mine"], extra)
    with pytest.raises(
        ConfigError, match=r"scenario mine: llm.premium: no price known for acme:mystery-1"
    ):
        check_scenario(mine, Pricer())
    extra.write_text('[mine]\nstt = "deepgram:nova-3"\nvison = 1\n')
    with pytest.raises(ConfigError, match=r"unknown key 'mine\.vison'"):
        load_scenarios(extra)


# --- a replay's projection ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo replayed once with both tiers (recorded transcript)."""
    path = tmp_path_factory.mktemp("projection") / "demo.duckdb"
    with Ledger(path) as ledger:
        replay(
            load_dataset(DEMO),
            ledger=ledger,
            config=recorded_config(0.3),
            run_id="bt",
            both_tiers=True,
        )
    return path


def test_replay_projects_every_request_under_two_scenarios(demo_run: Path) -> None:
    with Ledger(demo_run, read_only=True) as ledger:
        inputs = run_request_inputs(ledger, "bt")
        requests = {
            str(r[0]): str(r[1])
            for r in ledger.cursor()
            .execute("SELECT request_id, question FROM requests WHERE run_id = 'bt'")
            .fetchall()
        }
        for scenario in ("seed", "budget"):
            rows = run_projection(ledger, "bt", scenario)
            answers = rows[(rows["stage"] == "llm") & rows["routed"]]
            assert sorted(answers["request_id"]) == sorted(requests)  # every request, once
            assert set(rows[rows["stage"] == "llm"]["tier"]) == {"cheap", "premium"}
            assert (rows["cost_usd"] > 0).all()
            stt = rows[rows["stage"] == "stt"]
            assert len(stt) > 0 and stt["request_id"].isna().all() and stt["audio_s"].gt(0).all()
            openai = rows[rows["model"].str.startswith("openai:")]
            assert set(openai["token_method"]) == {"tiktoken:o200k_base"}  # exact
            others = rows[rows["model"].str.startswith(("google:", "anthropic:"))]
            assert set(others["token_method"]) == {"estimate:chars/4"}  # marked as estimates
            vision = rows[rows["stage"] == "vision"]
            assert len(vision) > 0 and (vision["image_tokens"] > 0).all()
    assert len(inputs) == 2 * len(requests)  # both tiers of every request
    for record in inputs:
        assert record.system_prompt == SYSTEM_PROMPT
        assert record.user_message.startswith("Context:\n")  # the shared prompt builder's
        assert record.user_message.endswith(f"Question: {requests[record.request_id]}")
        if record.vision_prompt is not None:
            assert (record.frame_width, record.frame_height) == (1280, 720)


def test_a_projected_run_sums_by_stage(demo_run: Path) -> None:
    with Ledger(demo_run, read_only=True) as ledger:
        seed = projected_run(ledger, "bt", "seed")
        budget = projected_run(ledger, "bt", "budget")
        with pytest.raises(LedgerError, match="python -m assistant project --run bt --scenario x"):
            projected_run(ledger, "bt", "x")
    assert seed.stage_cost_usd["stt"] == pytest.approx(budget.stage_cost_usd["stt"])  # same audio
    assert seed.total_cost_usd > budget.total_cost_usd > 0
    assert seed.per_hour() == pytest.approx(seed.total_cost_usd / 248.6 * 3600, rel=1e-3)
    assert 0.3 < seed.exact_share < 1.0


def _measured(ledger: Ledger) -> dict[str, list[tuple[object, ...]]]:
    cur = ledger.cursor()
    return {
        table: cur.execute(f"SELECT * EXCLUDE (created_at) FROM {table} ORDER BY ALL").fetchall()
        for table in ("calls", "requests")
    } | {"tier_outcomes": cur.execute("SELECT * FROM tier_outcomes ORDER BY ALL").fetchall()}


def test_project_command_changes_no_measured_cost(demo_run: Path, tmp_path: Path) -> None:
    import shutil

    path = Path(shutil.copy(demo_run, tmp_path / "copy.duckdb"))
    with Ledger(path) as ledger:
        before = _measured(ledger)
        first = run_projection(ledger, "bt", "seed")
        written = project_run(ledger, "bt", pick_scenarios(["seed"]))
        again = run_projection(ledger, "bt", "seed")
        after = _measured(ledger)
    assert before == after
    assert written == {"seed": len(first)}  # recomputed from stored inputs: the same rows
    columns = ["request_id", "stage", "tier", "model", "input_tokens", "output_tokens", "cost_usd"]
    assert first[columns].equals(again[columns])


def test_the_recorder_emits_the_same_measured_records_with_or_without_projection(
    tiny: Path,
) -> None:
    """One pipeline run, its results fed to a second recorder without a projector: every
    measured record is identical; only request inputs and projections are added."""
    dataset = load_dataset(tiny)
    config = recorded_config(0.0)
    with_projection: list[object] = []
    without: list[object] = []
    pipeline = Pipeline(
        run_id="r",
        tenant=dataset.tenant,
        room=dataset.room,
        config=config,
        emit=with_projection.append,
        stages=make_stages(config, dataset),
        both_tiers=True,
    )
    plain = RequestRecorder(
        run_id="r",
        tenant=dataset.tenant,
        room=dataset.room,
        pricer=pipeline.stages.pricer,
        emit=without.append,
    )
    observe = pipeline.recorder.observe

    def both(result):  # type: ignore[no-untyped-def]
        plain.observe(result)
        return observe(result)

    pipeline.recorder.observe = both  # type: ignore[method-assign]
    for event in RecordedSource(dataset).events():
        pipeline.handle(event)
    pipeline.finish()

    def strip(records: list[object]) -> list[object]:
        return [
            dataclasses.replace(r, created_at=None) if hasattr(r, "created_at") else r  # type: ignore[type-var]
            for r in records
            if not isinstance(r, ProjectionRecord | RequestInputRecord)
        ]

    assert strip(with_projection) == strip(without)
    assert any(isinstance(r, ProjectionRecord) for r in with_projection)
    assert not any(isinstance(r, ProjectionRecord) for r in without)


def test_sweep_command_on_projected_costs(demo_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli.registry import main

    assert main(["sweep", "--run", "bt", "--ledger", str(demo_run), "--scenario", "seed"]) == 0
    projected = capsys.readouterr().out
    assert main(["sweep", "--run", "bt", "--ledger", str(demo_run)]) == 0
    measured = capsys.readouterr().out
    assert projected != measured
    assert projected.splitlines()[0] == measured.splitlines()[0]  # the same quality
    assert main(["sweep", "--run", "bt", "--ledger", str(demo_run), "--scenario", "x"]) == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # bpe-openai reads its data the old way
def test_tiktoken_counts_agree_with_an_independent_bpe(demo_run: Path) -> None:
    """The demo's answer prompts counted by tiktoken (what the projection uses) and by GitHub's
    Rust BPE (bpe-openai's own encoder, a separate implementation of o200k_base): the same."""
    import bpe_openai

    rust = bpe_openai.get_encoding("o200k_base")
    with Ledger(demo_run, read_only=True) as ledger:
        prompts = [r.user_message for r in run_request_inputs(ledger, "bt") if r.user_message]
    assert len(prompts) == 40
    for prompt in prompts:
        ours = tok.count_text(prompt, provider="openai", model="gpt-4o")
        assert ours.tokens == len(rust.encode(prompt))


# --- off the question's path ---------------------------------------------------------------------


def test_projected_costs_are_counted_after_the_answer_not_in_it(tiny: Path) -> None:
    """A question's request and inputs are emitted as it is answered; its projection only at the
    next ``settle`` (sessions call it once the answer is out, before the checkpoint); ``finish``
    settles what is left. The rows are the same as projecting the stored inputs afterwards."""
    dataset = load_dataset(tiny)
    config = recorded_config(0.0)
    records: list[object] = []
    pipeline = Pipeline(
        run_id="r",
        tenant=dataset.tenant,
        room=dataset.room,
        config=config,
        emit=records.append,
        stages=make_stages(config, dataset),
    )
    asked = 0
    for event in RecordedSource(dataset).events():
        before = len(records)
        answered = pipeline.handle(event)
        if answered is None:
            continue
        asked += 1
        new = records[before:]
        assert any(isinstance(r, RequestInputRecord) for r in new)
        assert not any(isinstance(r, ProjectionRecord) for r in new)  # not on the answer's clock
        if asked == 1:
            pipeline.settle()
            settled = [r for r in records[before:] if isinstance(r, ProjectionRecord)]
            assert {r.request_id for r in settled} == {answered.request_id}
            assert {r.scenario for r in settled} == set(DEFAULT_SCENARIOS)
    assert asked >= 2
    pipeline.finish()
    inputs = [r for r in records if isinstance(r, RequestInputRecord)]
    projected = [r for r in records if isinstance(r, ProjectionRecord) and r.request_id]
    assert {r.request_id for r in projected} == {r.request_id for r in inputs}
    assert len({(r.request_id, r.scenario, r.stage, r.tier) for r in projected}) == len(projected)
    assert pipeline.recorder.project_pending() == 0


def test_the_tokenizer_loads_once_per_process_in_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``preload`` builds an encoding in a thread; a count asked meanwhile waits for that build
    instead of making its own, and later preloads have nothing to do."""
    import threading

    built: list[str] = []
    release = threading.Event()
    real = tok._build

    def slow_build(name: str) -> object:
        built.append(name)
        release.wait(5)
        return real(name)

    for other in threading.enumerate():  # a pipeline built by an earlier test may still preload
        if other.name == "tokenizer-preload":
            other.join(30)
    monkeypatch.setattr(tok, "_ENCODINGS", {})
    monkeypatch.setattr(tok, "_build", slow_build)
    tok._tiktoken_count.cache_clear()
    loading = tok.preload(["o200k_base", "o200k_base"])
    assert loading is not None
    counted: list[tok.Count] = []
    asking = threading.Thread(
        target=lambda: counted.append(
            tok.count_text("hello world", provider="openai", model="gpt-4o-mini")
        )
    )
    asking.start()
    release.set()
    loading.join(10)
    asking.join(10)
    assert built == ["o200k_base"]  # one build, shared
    assert counted == [tok.Count(2, "tiktoken:o200k_base")]
    assert tok.preload(["o200k_base"]) is None
    tok._tiktoken_count.cache_clear()
