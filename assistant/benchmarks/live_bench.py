"""Live overhead: the pipeline's own time per question, with instant scripted providers.

A pipeline is built as a replay builds it (``pipeline.stages.make_stages`` for the demo: the heuristic
scorer, the threshold router, the demo's BM25 knowledge base, pricing), then its vision and
answer providers are replaced by scripted fakes that answer at once with fixed usage. The demo's
transcript is loaded and a kept frame is on screen, and the demo's 20 questions are asked again
and again. Per question: the wall time of ``Pipeline.ask`` minus the time inside the providers
(the request's vision and answer latencies), i.e. retrieval, scoring, routing, quality scoring,
pricing and building the records. The baseline is the offline answerer (``local:extractive-1``,
the cheapest real provider) answering the same questions in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

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
    overhead_ms: list[float] = []
    provider_ms: list[float] = []
    for r in range(rounds):
        for q in dataset.questions:
            question = Question(**{**dataclasses.asdict(q), "id": f"{q.id}-{r}"})
            started = time.perf_counter()
            record = pipeline.ask(question)
            wall_ms = (time.perf_counter() - started) * 1000
            inside = record.vision_latency_ms + record.llm_latency_ms
            provider_ms.append(inside)
            overhead_ms.append(wall_ms - inside)
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
        "inside the fakes)"
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
