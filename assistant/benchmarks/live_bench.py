"""Live overhead: the pipeline's own time per question, with instant scripted providers.

A pipeline is built as a replay builds it (``pipeline.stages.make_stages`` for the demo: the heuristic
scorer, the threshold router, the demo's BM25 knowledge base, pricing), then its vision and
answer providers are replaced by scripted fakes that answer at once with fixed usage. The demo's
transcript is loaded and a kept frame is on screen, and the demo's 20 questions are asked again
and again. Per question: the wall time of ``Pipeline.ask`` minus the time inside the providers
(the request's vision and answer latencies), i.e. retrieval, scoring, routing, quality scoring,
pricing and building the records. The projected cloud costs (token counting) are emitted after
the answer, by ``Pipeline.settle`` as a session does before its checkpoint; their time is shown
beside the figure, not in it. The tokenizers are loaded in the background as the pipeline is built;
the benchmark waits for them before its first question. The baseline is the offline answerer
(``local:extractive-1``, the cheapest real provider) answering the same questions in the same run.

Recording (``--record``, ``sessions/recording.py``): a ``LiveSession`` with the same fakes is fed a
720p30 I420 screen share (real ``rtc.VideoFrame``s: a slide with a block moving across it) and two
participants' 10 ms audio frames, paced in real time, once without a recorder (the baseline) and
once recording; the figure is the extra process CPU (every thread) per second of media, and the
frames the recorder dropped because its encoder was behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from assistant.benchmarks.harness import Figure, percentile
from assistant.core.events import Answer, KeptFrame, Passage, Usage
from assistant.core.paths import DEMO_DATASET as DEMO
from assistant.providers.base import HookOutput
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.vision.base import VisionProvider

SECTION = "live"


class ScriptedVision(VisionProvider):
    """Reads every screen at once as the same text."""

    provider = "fake"

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        return HookOutput("Q3 revenue by region: EMEA $1.32M, North America $2.4M", Usage(1, 1, 1))


class ScriptedLLM(LLM):
    """Answers at once with its first passage, fixed usage."""

    provider = "fake"

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        first = request.passages[0] if request.passages else Passage("none", "I do not know.")
        return HookOutput(Answer(f"{first.text} [1]", (first,)), Usage(400, 40))


def run(*, quick: bool, say: Callable[[str], None]) -> list[Figure]:
    return _pipeline_figures(quick=quick, say=say) + recording_figures(quick=quick, say=say)


def _pipeline_figures(*, quick: bool, say: Callable[[str], None]) -> list[Figure]:
    import dataclasses

    import numpy as np

    from assistant.core.config import Config, PricingConfig
    from assistant.core.events import Question
    from assistant.pipeline.orchestrator import Pipeline
    from assistant.pipeline.stages import make_stages
    from assistant.pipeline.tiers import TierPair
    from assistant.providers.llm.local import LocalExtractiveLLM
    from assistant.sessions.datasets import load_dataset

    rounds = 3 if quick else 25
    say(f"live: {rounds} rounds of the demo's questions through a pipeline with instant fakes")
    dataset = load_dataset(DEMO, check_media=False)
    free = {"input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6}
    config = dataclasses.replace(
        Config(),
        stt=dataclasses.replace(Config().stt, provider="recorded:"),
        pricing=PricingConfig(
            overrides={"fake:vision": {"usd_per_image": 0.001}, "fake:answer": free}
        ),
    )
    stages = make_stages(config, dataset).with_(
        vision=TierPair(cheap=ScriptedVision(model="vision"), premium=ScriptedVision(model="vision")),
        llm=TierPair(cheap=ScriptedLLM(model="answer"), premium=ScriptedLLM(model="answer")),
    )
    stages.knowledge.warm_up()
    records: list[object] = []
    pipeline = Pipeline(
        run_id="live-bench",
        tenant=dataset.tenant,
        room=dataset.room,
        config=config,
        emit=records.append,
        names={p.identity: p.name for p in dataset.participants},
        stages=stages,
    )
    pipeline.transcript.extend(dataset.transcript or ())
    screen = np.full((720, 1280), 200, np.uint8)
    from assistant.core.events import VideoFrame

    frame = VideoFrame(
        "alice:screen", 0.0, 1280, 720, screen, lambda: np.zeros((720, 1280, 3), np.uint8)
    )
    pipeline.handle(frame)  # the first frame is kept: the screen questions have a screen
    projector = pipeline.recorder.projector
    loading = projector.preload() if projector is not None else None
    if loading is not None:  # started with the pipeline; a session has it before its questions
        loading.join()
    overhead_ms: list[float] = []
    provider_ms: list[float] = []
    settle_ms: list[float] = []
    for r in range(rounds):
        for q in dataset.questions:
            question = Question(**{**dataclasses.asdict(q), "id": f"{q.id}-{r}"})
            started = time.perf_counter()
            record = pipeline.ask(question)
            wall_ms = (time.perf_counter() - started) * 1000
            inside = record.vision_latency_ms + record.llm_latency_ms
            provider_ms.append(inside)
            overhead_ms.append(wall_ms - inside)
            started = time.perf_counter()
            pipeline.settle()  # the projected cost, once the answer is out (as sessions do)
            settle_ms.append((time.perf_counter() - started) * 1000)
            records.clear()
    # the baseline: the cheapest real answerer on the same questions and context
    real = LocalExtractiveLLM(model="extractive-1")
    answer_ms: list[float] = []
    for _ in range(max(1, rounds // 5)):
        for q in dataset.questions:
            knowledge = stages.knowledge.search(q.text, tenant=dataset.tenant, k=4)
            request = AnswerRequest(
                question=q.text, transcript=pipeline._recent(q.t_s), knowledge=tuple(knowledge)
            )
            started = time.perf_counter()
            real.answer(request)
            answer_ms.append((time.perf_counter() - started) * 1000)
    p50, p95 = percentile(overhead_ms, 50), percentile(overhead_ms, 95)
    base50, base95 = percentile(answer_ms, 50), percentile(answer_ms, 95)
    detail = (
        f"{len(overhead_ms)} questions; provider time excluded (p50 {percentile(provider_ms, 50):.3f} ms "
        "inside the fakes); projected costs counted after the answer is out, before the "
        f"checkpoint: p50 {percentile(settle_ms, 50):.3f} ms, p95 {percentile(settle_ms, 95):.3f} ms "
        "a question, not in these figures"
    )
    limits = (
        None
        if p95 < 20
        else "BM25 retrieval over the knowledge base and the heuristic scorer per question"
    )
    return [
        Figure(
            section=SECTION,
            name="pipeline time per question excluding providers, p50",
            value=p50,
            unit="ms",
            baseline="the offline answerer (local:extractive-1) alone, p50",
            baseline_value=base50,
            ratio=base50 / p50 if p50 else None,
            target="(p95 is the target)",
            detail=detail,
        ),
        Figure(
            section=SECTION,
            name="pipeline time per question excluding providers, p95",
            value=p95,
            unit="ms",
            baseline="the offline answerer (local:extractive-1) alone, p95",
            baseline_value=base95,
            ratio=base95 / p95 if p95 else None,
            target="< 20 ms",
            target_value=20.0,
            higher_is_better=False,
            limited_by=limits,
            detail=detail,
        ),
    ]


def _fake_stages(dataset: Any) -> tuple[Any, Any]:
    import dataclasses

    from assistant.core.config import Config
    from assistant.pipeline.stages import make_stages
    from assistant.pipeline.tiers import TierPair

    config = dataclasses.replace(Config(), stt=dataclasses.replace(Config().stt, provider="recorded:"))
    stages = make_stages(config, dataset).with_(
        vision=TierPair(cheap=ScriptedVision(model="vision"), premium=ScriptedVision(model="vision")),
        llm=TierPair(cheap=ScriptedLLM(model="answer"), premium=ScriptedLLM(model="answer")),
    )
    return config, stages


def _screen_frames(count: int) -> list[Any]:
    """``count`` 720p I420 frames: a grey slide with a 64 px block moving 8 px a frame."""
    import numpy as np
    from livekit import rtc

    width, height = 1280, 720
    frames = []
    for i in range(count):
        y = np.full((height, width), 200, np.uint8)
        y[80:120, 100:900] = 40  # a title bar
        x = (i * 8) % (width - 64)
        y[400:464, x : x + 64] = 16
        chroma = np.full(width * height // 2, 128, np.uint8)
        data = np.concatenate([y.reshape(-1), chroma]).tobytes()
        frames.append(rtc.VideoFrame(width, height, rtc.VideoBufferType.I420, data))
    return frames


def _paced_session(
    dataset: Any, *, seconds: float, folder: Any, record: bool
) -> tuple[float, int, int, int]:
    """``(process CPU s, frames offered, frames dropped by the session, dropped by the recorder)``
    for ``seconds`` of 720p30 screen share and two voices, paced in real time."""
    import numpy as np
    from livekit import rtc

    from assistant.sessions.live import LiveSession
    from assistant.sessions.recording import RecordOptions, RoomRecorder
    from assistant.sessions.sources.livekit import MediaClock

    config, stages = _fake_stages(dataset)
    recorder = (
        RoomRecorder(RecordOptions(folder=folder / "rec", tenant=dataset.tenant, room=dataset.room))
        if record else None
    )
    pool = _screen_frames(30)
    rng = np.random.default_rng(0)
    voice = (rng.normal(0, 2000, 160)).astype(np.int16).tobytes()
    clock = MediaClock()
    session = LiveSession(
        ledger=folder / f"live-{record}.duckdb", config=config, stages=stages,
        tenant=dataset.tenant, room=dataset.room, clock=clock, recorder=recorder,
        run_id=f"bench-record-{record}",
    )
    cpu0 = time.process_time()
    session.start()
    frames = 0
    ticks = int(seconds * 100)  # 10 ms audio frames; a video frame every 1/30 s
    for tick in range(ticks):
        due = tick / 100
        wait = due - clock.now_s()
        if wait > 0:
            time.sleep(wait)
        for who in ("alice", "bob"):
            session.on_audio(who, rtc.AudioFrame(voice, 16_000, 1, 160))
        while frames < due * 30:
            session.on_video("alice", "TR_screen", pool[frames % len(pool)])
            frames += 1
    session.close()
    cpu = time.process_time() - cpu0
    dropped_rec = recorder.stats.video_dropped if recorder is not None else 0
    return cpu, frames, session.stats.frames_dropped, dropped_rec


def recording_figures(*, quick: bool, say: Callable[[str], None]) -> list[Figure]:
    import shutil
    import tempfile
    from pathlib import Path

    from assistant.sessions.datasets import load_dataset

    seconds = 3.0 if quick else 20.0
    say(f"live: {seconds:.0f} s of a 720p30 screen share and two voices, paced, without and with "
        "recording")
    dataset = load_dataset(DEMO, check_media=False)
    folder = Path(tempfile.mkdtemp(prefix="workbench-record-bench-"))
    try:
        base_cpu, offered, base_dropped, _ = _paced_session(
            dataset, seconds=seconds, folder=folder, record=False
        )
        rec_cpu, rec_offered, rec_session_dropped, rec_dropped = _paced_session(
            dataset, seconds=seconds, folder=folder, record=True
        )
        screen_mb = (folder / "rec").joinpath("screen.mp4").stat().st_size / 1e6
        load_dataset(folder / "rec")  # what was written loads
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base_ms, rec_ms = base_cpu / seconds * 1000, rec_cpu / seconds * 1000
    extra_ms = rec_ms - base_ms
    detail = (
        f"{seconds:.0f} s paced; recording adds {extra_ms:.0f} ms of CPU per second "
        f"({extra_ms / 10:.1f}% of one core); process CPU, all threads; screen.mp4 "
        f"{screen_mb / seconds * 60:.1f} MB per minute (a static slide with a moving block)"
    )
    kept = 100.0 * (rec_offered - rec_session_dropped - rec_dropped) / rec_offered
    base_kept = 100.0 * (offered - base_dropped) / offered
    return [
        Figure(
            section=SECTION,
            name="recording: live CPU per second of a 720p30 screen share, recording",
            value=rec_ms,
            unit="ms/s",
            baseline="the same live session without recording",
            baseline_value=base_ms,
            ratio=base_ms / rec_ms if rec_ms else None,
            target=f"< {base_ms + 250:.0f} ms/s (at most a quarter of a core more)",
            target_value=base_ms + 250.0,
            higher_is_better=False,
            limited_by=None if extra_ms < 250 else "libx264 encoding every 720p frame",
            detail=detail,
        ),
        Figure(
            section=SECTION,
            name="recording: screen frames kept (not dropped), recording",
            value=kept,
            unit="%",
            baseline="the same live session without recording",
            baseline_value=base_kept,
            ratio=kept / base_kept if base_kept else None,
            target="100% (no frame dropped by the recorder or the session)",
            target_value=100.0,
            higher_is_better=True,
            limited_by=None if kept >= 100.0 else "the encoder fell behind the screen share",
            detail=f"{rec_offered} frames offered ({offered} in the baseline); "
            f"{rec_dropped} dropped by the recorder's queue, {rec_session_dropped} by the session "
            f"({base_dropped} without recording)",
        ),
    ]
