"""Stage-level behaviour: config, quality, scoring, routing, sampling, voice gate, pricing, retries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.core.config import Config, SamplingConfig, load_config
from assistant.core.errors import (
    ConfigError,
    ProviderStatusError,
    ProviderTimeoutError,
    WorkbenchError,
)
from assistant.core.events import AudioChunk, Passage, Usage, Utterance, VideoFrame
from assistant.core.quality import key_fact_recall, score_answer, token_f1
from assistant.pipeline.sampling import FixedRateSampler, change_score, digest, thumbnail
from assistant.pricing.prices import Pricer
from assistant.providers.base import HookOutput, Provider, ProviderCallError, RetryPolicy
from assistant.providers.llm.base import AnswerRequest
from assistant.providers.llm.local import NOT_FOUND, LocalExtractiveLLM
from assistant.providers.stt.recorded import RecordedTranscriber
from assistant.providers.vision.ocr import lines_in_reading_order
from assistant.rag import KnowledgeBase, chunk_document
from assistant.routing import ScoreContext, make_router
from assistant.routing.scorer import HeuristicScorer


# -- config -----------------------------------------------------------------------------------
def test_config_defaults_are_offline() -> None:
    config = Config()
    assert config.stt.provider.startswith("whisper:")
    assert config.vision.cheap.startswith("ocr:") and config.llm.premium.startswith("local:")
    assert len(config.digest()) == 16 and config.digest() == Config().digest()
    assert config.with_threshold(0.7).digest() != config.digest()


def test_config_file_overrides_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[routing]\nthreshold = 0.3\n[llm]\npremium = "local:extractive-5"\n')
    config = load_config(good)
    assert config.routing.threshold == 0.3 and config.llm.premium == "local:extractive-5"
    cases = {
        "[routing]\nthreshhold = 0.3\n": "unknown key 'routing.threshhold'",
        "[routing]\nthreshold = 'high'\n": "must be float",
        "[routing]\nthreshold = 1.5\n": "outside [0, 1]",
        "[sampling]\nfps = 0\n": "fps must be > 0",
        "[llm]\ncheap = 'gpt'\n": "provider:model",
        "[nonsense]\nx = 1\n": "unknown section 'nonsense'",
        "threshold = [": "not valid TOML",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
            load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


# -- quality ----------------------------------------------------------------------------------
def test_quality_scores() -> None:
    assert token_f1("The launch is on March 14.", "March 14") == pytest.approx(2 * 0.4 * 1 / 1.4)
    assert token_f1("nothing in common", "March 14") == 0.0
    assert key_fact_recall("Churn fell to 2.1 % in May", ["2.1%", "May"]) == 1.0
    assert key_fact_recall("Revenue was $4.20M", ["$4.2M"]) == 1.0
    assert key_fact_recall("Churn fell to 21%", ["2.1%"]) == 0.0
    assert key_fact_recall("two seats", ["2 seats"]) == 1.0
    q = score_answer("Priya owns it", reference="Priya owns the churn work.", key_facts=("Priya",))
    assert q is not None and q.score == 1.0 and 0 < q.f1 < 1
    assert score_answer("x", reference=None) is None


# -- scoring and routing ----------------------------------------------------------------------
def test_heuristic_scorer_orders_and_explains() -> None:
    scorer = HeuristicScorer()
    easy = scorer.score("What is the Pro price?", ScoreContext())
    hard = scorer.score(
        "Why did churn rise, and should we compare it with last quarter before we decide?",
        ScoreContext(),
    )
    assert 0.0 <= easy.value < hard.value <= 1.0
    assert hard.contributions["reasoning"] > 0 and easy.contributions["reasoning"] == 0
    assert set(easy.contributions) == set(hard.contributions)


def test_routers() -> None:
    threshold = make_router("threshold", threshold=0.4)
    assert threshold.route(0.39).tier == "cheap" and threshold.route(0.4).tier == "premium"
    assert make_router("always-cheap").route(1.0).tier == "cheap"
    assert make_router("always-premium").route(0.0).tier == "premium"
    rnd = make_router("random", threshold=0.75, seed=1)
    routes = [rnd.route(0.5) for _ in range(2000)]
    share = sum(r.tier == "premium" for r in routes) / len(routes)
    assert 0.2 < share < 0.3
    assert {r.propensity for r in routes} == {0.25, 0.75}


# -- sampling ---------------------------------------------------------------------------------
def _frame(t_s: float, value: int) -> VideoFrame:
    luma = np.full((72, 128), value, np.uint8)
    return VideoFrame("s", t_s, 128, 72, luma, lambda: np.zeros((72, 128, 3), np.uint8))


def test_fixed_sampler_keeps_one_frame_per_interval() -> None:
    sampler = FixedRateSampler(SamplingConfig(fps=1.0, keep_last=3))
    kept = [sampler.offer(_frame(i / 30, 10 * (i // 45))) for i in range(30 * 5)]
    times = [k.t_s for k in kept if k is not None]
    assert times == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0], abs=0.04)
    assert len(sampler.kept) == 3 and sampler.latest() is not None
    assert [k.reason for k in kept if k][:2] == ["first", "interval"]


def test_change_score_and_digest() -> None:
    a, b = np.zeros((90, 160), np.uint8), np.full((90, 160), 255, np.uint8)
    assert change_score(None, a) == 1.0 and change_score(a, a) == 0.0
    assert change_score(a, b) == 1.0
    assert digest(a) == digest(a.copy()) != digest(b)
    assert thumbnail(np.zeros((720, 1280), np.uint8)).shape == (90, 160)


# -- voice gate -------------------------------------------------------------------------------
def test_voice_gate_sends_speech_only() -> None:
    rate = 16_000
    audio = np.zeros(rate * 6, np.int16)
    rng = np.random.default_rng(0)
    audio[rate : int(rate * 2.5)] = (rng.standard_normal(int(rate * 1.5)) * 3000).astype(np.int16)
    audio[rate * 4 : rate * 5] = (rng.standard_normal(rate) * 3000).astype(np.int16)
    stt = RecordedTranscriber(model="truth", transcript=[])
    segments = []
    for i in range(0, len(audio), rate // 2):
        segments += stt.push(AudioChunk("alice", i / rate, audio[i : i + rate // 2]))
    segments += stt.flush()
    assert len(segments) == 2
    assert segments[0].start_s == pytest.approx(0.8, abs=0.05)
    assert segments[0].end_s == pytest.approx(2.7, abs=0.1)
    total = sum(len(s.samples) for s in segments) / rate
    assert total < 3.5  # 2.5 s of speech plus padding; the 3.5 s of silence is not sent


def test_recorded_transcriber_returns_overlapping_truth() -> None:
    truth = [Utterance("alice", 1.0, 2.4, "hello there"), Utterance("bob", 1.0, 2.0, "hi")]
    stt = RecordedTranscriber(model="truth", transcript=truth)
    audio = np.zeros(16_000 * 4, np.int16)
    audio[16_000 : int(16_000 * 2.4)] = 3000
    segments = stt.push(AudioChunk("alice", 0.0, audio))
    result = stt.transcribe(segments[0])
    assert [u.text for u in result.value] == ["hello there"]
    assert result.usage.audio_s == pytest.approx(len(segments[0].samples) / 16_000)


# -- retrieval and answering ------------------------------------------------------------------
def test_chunking_keeps_headings_and_size() -> None:
    text = "# Pricing\n\n" + " ".join(["word"] * 200) + "\n\n# Support\n\nEmail us."
    chunks = chunk_document("p.md", text, max_words=90)
    assert all(len(c.text.split()) <= 91 for c in chunks)
    assert chunks[0].heading == "Pricing" and chunks[-1].text == "Support:\nEmail us."


def test_knowledge_base_is_tenant_scoped() -> None:
    kb = KnowledgeBase("acme", [("a.md", "The Pro plan costs $49 per seat.")])
    assert kb.search("pro plan cost", tenant="acme")[0].source == "kb:a.md#1"
    with pytest.raises(WorkbenchError, match="refused"):
        kb.search("pro plan cost", tenant="acme-evil")


def test_extractive_answerer_cites_and_admits_ignorance() -> None:
    request = AnswerRequest(
        question="When is the launch date?",
        transcript=(Passage("transcript:bob@00:02", "Bob: The launch date is March 14."),),
        knowledge=(Passage("kb:a.md#1", "Pricing: The Pro plan costs $49 per seat."),),
    )
    result = LocalExtractiveLLM(model="extractive-1").answer(request)
    assert result.value.text == "Bob: The launch date is March 14. [1]"
    assert result.value.citations[0].source == "transcript:bob@00:02"
    assert result.usage.compute_s > 0 and result.usage.input_tokens > 0
    empty = LocalExtractiveLLM(model="extractive-3").answer(AnswerRequest(question="Who won?"))
    assert empty.value.text == NOT_FOUND


def test_ocr_lines_read_rows_left_to_right() -> None:
    boxes = [
        [[300, 10], [400, 10], [400, 40], [300, 40]],
        [[10, 12], [100, 12], [100, 38], [10, 38]],
        [[10, 60], [100, 60], [100, 90], [10, 90]],
    ]
    assert lines_in_reading_order(boxes, ["$4.2M", "Revenue", "Churn"]) == [
        "Revenue  $4.2M",
        "Churn",
    ]


# -- pricing ----------------------------------------------------------------------------------
def test_pricing_local_cloud_and_overrides() -> None:
    pricer = Pricer()
    assert pricer.cost_usd(provider="ocr", model="full", usage=Usage(compute_s=36.0)) == (
        pytest.approx(36.0 * 0.10 / 3600)
    )
    cloud = pricer.cost_usd(
        provider="openai", model="gpt-4o-mini", usage=Usage(input_tokens=1_000_000)
    )
    assert cloud == pytest.approx(0.15)  # genai-prices: $0.15 per million input tokens
    assert pricer.cost_usd(
        provider="deepgram", model="nova-3", usage=Usage(audio_s=60)
    ) == pytest.approx(0.0043)
    assert pricer.cost_usd(provider="recorded", model="", usage=Usage(compute_s=9)) == 0.0
    with pytest.raises(ConfigError, match=r"pricing\.overrides"):
        pricer.cost_usd(provider="acme", model="mystery-1", usage=Usage(input_tokens=5))
    from assistant.core.config import PricingConfig

    custom = Pricer(PricingConfig(overrides={"acme:mystery-1": {"input_usd_per_mtok": 2.0}}))
    assert custom.cost_usd(
        provider="acme", model="mystery-1", usage=Usage(input_tokens=500_000)
    ) == pytest.approx(1.0)


# -- retries ----------------------------------------------------------------------------------
class Scripted(Provider):
    def __init__(self, outcomes: list[Exception | str]) -> None:
        self.sleeps: list[float] = []
        super().__init__(model="m", policy=RetryPolicy(max_attempts=3), sleep=self.sleeps.append)
        self.outcomes = outcomes

    def call(self) -> object:
        def hook() -> HookOutput[str]:
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return HookOutput(outcome, Usage())

        return self._invoke(hook)


def test_retries_back_off_and_honour_retry_after() -> None:
    provider = Scripted(
        [
            ProviderStatusError("slow down", status_code=429, retry_after_s=2.5),
            ProviderTimeoutError("timeout"),
            "ok",
        ]
    )
    result = provider.call()
    assert result.value == "ok" and result.attempts == 3  # type: ignore[attr-defined]
    assert provider.sleeps == [2.5, 1.0]


def test_no_retry_on_client_errors_and_bounded_attempts() -> None:
    client_error = Scripted([ProviderStatusError("bad request", status_code=400), "never"])
    with pytest.raises(ProviderCallError) as info:
        client_error.call()
    assert info.value.failure.attempts == 1 and client_error.sleeps == []
    always_failing = Scripted([ProviderStatusError("down", status_code=503)] * 10)
    with pytest.raises(ProviderCallError) as info:
        always_failing.call()
    assert info.value.failure.attempts == 3 and len(always_failing.sleeps) == 2


def test_adapter_bug_becomes_provider_error() -> None:
    with pytest.raises(ProviderCallError, match="ZeroDivisionError"):
        Scripted([ZeroDivisionError("oops")]).call()


# -- change and voice-activity policies -------------------------------------------------------
def _screen(t_s: float, luma: np.ndarray) -> VideoFrame:
    return VideoFrame("s", t_s, luma.shape[1], luma.shape[0], luma, lambda: np.zeros((2, 2, 3)))


def _slides(n_frames: int, fps: int = 30) -> list[tuple[float, np.ndarray]]:
    """A static screen with a 'slide change' (half the screen redrawn) at 2.0 s."""
    base = np.full((360, 640), 230, np.uint8)
    other = base.copy()
    other[40:200, 40:600] = 30
    return [(i / fps, base if i < 2 * fps else other) for i in range(n_frames)]


def test_change_sampler_catches_a_slide_change_once_settled() -> None:
    from assistant.pipeline.sampling import ChangeSampler

    sampler = ChangeSampler(SamplingConfig(policy="change", settle_s=0.3))
    kept = [sampler.offer(_screen(t, luma)) for t, luma in _slides(30 * 5)]
    reasons = [(round(k.t_s, 2), k.reason) for k in kept if k is not None]
    assert [r for _, r in reasons] == ["first", "change"]  # one frame per screen state
    assert reasons[1][0] == pytest.approx(2.3, abs=0.05)  # kept once it held still 0.3 s


def test_change_sampler_ignores_a_corner_animation_but_not_a_cell_update() -> None:
    from assistant.pipeline.sampling import ChangeSampler

    sampler = ChangeSampler(SamplingConfig(policy="change"))
    rng = np.random.default_rng(1)
    kept = []
    for i in range(30 * 6):
        luma = np.full((360, 640), 230, np.uint8)
        luma[280:340, 540:620] = rng.integers(0, 255, (60, 80), dtype=np.uint8)  # a video
        if i >= 30 * 4:
            luma[100:120, 100:160] = 20  # a small, lasting content change
        k = sampler.offer(_screen(i / 30, luma))
        if k is not None:
            kept.append((round(k.t_s, 1), k.reason))
    assert [r for _, r in kept].count("change") == 1
    assert kept[-1][0] >= 4.0 and kept[-1][1] == "change"
    assert len(kept) <= 4  # first frame, early video frames before masking, the cell update


def test_change_sampler_keepalive_and_question_capture() -> None:
    from assistant.pipeline.sampling import ChangeSampler

    sampler = ChangeSampler(SamplingConfig(policy="change", keepalive_s=1.5))
    frames = _slides(30 * 5)
    reasons = []
    for t, luma in frames[:50]:
        k = sampler.offer(_screen(t, luma))
        reasons += [k.reason] if k else []
    assert reasons == ["first", "keepalive"]
    assert sampler.on_question(1.7) is None  # nothing new on screen: no duplicate capture
    t, luma = frames[30 * 2]
    sampler.offer(_screen(t, luma))  # the slide just changed and has not settled
    captured = sampler.on_question(t)
    assert captured is not None and captured.reason == "question"


def test_voice_activity_sampler_slows_down_in_silence() -> None:
    from assistant.pipeline.sampling import VoiceActivitySampler

    sampler = VoiceActivitySampler(SamplingConfig(policy="voice_activity"))
    kept = 0
    for i in range(30 * 20):
        sampler.on_voice(i / 30, i < 30 * 10)  # speech for 10 s, then silence
        kept += sampler.offer(_frame(i / 30, 0)) is not None
    assert kept == 10 + 3  # 1.0 FPS while speaking, 0.3 FPS after


def test_sampling_config_rejects_bad_values(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("[sampling]\npolicy = 'change'\nchange_share = 2.0\n")
    with pytest.raises(ConfigError, match="change_share"):
        load_config(bad)
    from assistant.pipeline.sampling import make_sampler

    with pytest.raises(ConfigError, match="available: change, fixed, voice_activity"):
        make_sampler(SamplingConfig(policy="sometimes"))


def test_citation_markers_are_not_scored() -> None:
    q = score_answer(
        "Revenue grew [1]. Churn fell [2]. Costs rose [3].", reference="3", key_facts=("3",)
    )
    assert q is not None and q.key_facts == 0.0


def test_ten_bit_video_gives_true_luminance() -> None:
    import av

    from assistant.sessions.media import luma_of

    grey = np.full((64, 96, 3), 200, np.uint8)
    frame = av.VideoFrame.from_ndarray(grey, format="rgb24").reformat(format="yuv420p10le")
    luma = luma_of(frame)
    assert luma.shape == (64, 96) and abs(int(luma.mean()) - 200) <= 3
    eight = av.VideoFrame.from_ndarray(grey, format="rgb24").reformat(format="yuv420p")
    assert abs(int(luma_of(eight).mean()) - 188) <= 3  # video range: 16 + 200 * 219 / 255


def test_kept_frames_differing_by_one_character_get_different_digests() -> None:
    a = np.full((90, 160, 3), 255, np.uint8)
    b = a.copy()
    b[40, 80] = 0  # one dark pixel: a different character
    assert digest(a) != digest(b) and digest(a) == digest(a.copy())


def test_ledger_path_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    from assistant.core.errors import LedgerError
    from assistant.ledger import Ledger

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="another --ledger PATH"):
        Ledger(blocker / "ledger.duckdb")


def test_bad_pricing_override_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('[pricing.overrides."acme:m"]\nusd_per_hour = "0.5"\n')
    with pytest.raises(ConfigError, match="non-negative numbers"):
        load_config(bad)
