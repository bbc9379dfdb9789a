"""The assistant pipeline: one code path for recorded and live sources.

Events go in (frames, audio, questions); typed results come out (``assistant.pipeline.results``)
to the ``Recorder``, which prices them and emits records through ``emit`` (the ledger writer
subscribes). Stages are injected (``Stages``). A question is answered in named steps: retrieve,
route, answer with the routed tier (read the screen, then answer, each failing over to the other
tier: ``TierPair``), and with ``both_tiers`` the other tier too. A request is always recorded,
with its true status.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.core.config import Config
from assistant.core.events import (
    AudioChunk,
    Event,
    KeptFrame,
    Passage,
    Question,
    Utterance,
    VideoFrame,
)
from assistant.ledger.records import RequestRecord
from assistant.pipeline.answers import AnswerCache, answer_key
from assistant.pipeline.projecting import Projector
from assistant.pipeline.recorder import Record, Recorder
from assistant.pipeline.results import (
    Answered,
    FrameKept,
    Retrieved,
    Routed,
    TierRun,
    Transcribed,
    TranscriptionFailed,
)
from assistant.pipeline.stages import Stages
from assistant.pipeline.tiers import StageRun, other_tier
from assistant.providers.base import CallResult, ProviderCallError
from assistant.providers.llm.base import AnswerRequest
from assistant.providers.stt.base import Segment
from assistant.routing import ScoreContext

__all__ = ["AnswerCache", "Pipeline", "Record", "answer_key", "other_tier"]


@dataclass
class Pipeline:
    run_id: str
    tenant: str
    room: str
    config: Config
    stages: Stages
    emit: Callable[[Record], None]
    names: dict[str, str] = field(default_factory=dict)  # identity -> display name
    both_tiers: bool = False  # also answer with the other tier, into tier_outcomes
    answer_cache: AnswerCache | None = None  # used with both_tiers (one is made when None)
    transcript: list[Utterance] = field(default_factory=list)
    project_costs: bool = True  # also record each request's projected cost (DEFAULT_SCENARIOS)
    recorder: Recorder = field(init=False)

    def __post_init__(self) -> None:
        if self.both_tiers and self.answer_cache is None:
            self.answer_cache = AnswerCache()
        self.recorder = Recorder(
            run_id=self.run_id,
            tenant=self.tenant,
            room=self.room,
            pricer=self.stages.pricer,
            emit=lambda record: self.emit(record),
            projector=Projector.default(self.stages.pricer) if self.project_costs else None,
        )

    # -- events ------------------------------------------------------------------------------
    def handle(self, event: Event) -> RequestRecord | None:
        stages = self.stages
        if isinstance(event, VideoFrame):
            self._kept(stages.sampler.offer(event))
        elif isinstance(event, AudioChunk):
            for segment in stages.transcriber.push(event):
                self._transcribe(segment)
            stages.sampler.on_voice(event.t_s + event.duration_s, stages.transcriber.speaking)
        elif isinstance(event, Question):
            self._kept(stages.sampler.on_question(event.t_s))
            return self.ask(event)
        return None

    def finish(self) -> None:
        for segment in self.stages.transcriber.flush():
            self._transcribe(segment)

    # -- resuming ---------------------------------------------------------------------------
    def restore(self, transcript: tuple[Utterance, ...], *, next_call_index: int) -> None:
        """Pick up a stopped run: its transcript so far, and call ids after those it used."""
        self.transcript = list(transcript)
        self.recorder.restart_ids(next_call_index)

    def catch_up(self, event: Event) -> None:
        """Take in an event whose rows are already stored: the sampler and the voice gate
        move on as in ``handle``, but nothing is transcribed, answered or emitted."""
        stages = self.stages
        if isinstance(event, VideoFrame):
            stages.sampler.offer(event)
        elif isinstance(event, AudioChunk):
            for _segment in stages.transcriber.push(event):
                pass  # transcribed before the stop: its utterances came back with restore()
            stages.sampler.on_voice(event.t_s + event.duration_s, stages.transcriber.speaking)
        elif isinstance(event, Question):
            stages.sampler.on_question(event.t_s)

    def _kept(self, kept: KeptFrame | None) -> None:
        if kept is not None:
            self.recorder.observe(FrameKept(kept))

    # -- transcription -----------------------------------------------------------------------
    def _transcribe(self, segment: Segment) -> None:
        try:
            result = self.stages.transcriber.transcribe(segment)
        except ProviderCallError as exc:
            self.recorder.observe(TranscriptionFailed(exc.failure, segment.start_s))
            return
        self.transcript.extend(result.value)
        self.recorder.observe(Transcribed(result, segment.start_s))

    # -- questions ---------------------------------------------------------------------------
    def ask(self, question: Question) -> RequestRecord:
        """Answer one question. Its records are made after the request is timed, so neither
        pricing nor a ledger flush counts as request latency."""
        record = self.recorder.observe(self._answer(question))
        assert record is not None
        return record

    def _answer(self, question: Question) -> Answered:
        started = time.perf_counter()
        retrieved = self._retrieve(question)
        routed = self._route(question, retrieved)
        run = self._run_tier(question, routed.route.tier, retrieved)
        total_latency_ms = (time.perf_counter() - started) * 1000
        other = None
        if self.both_tiers:
            other = self._run_tier(question, other_tier(routed.route.tier), retrieved)
        return Answered(
            request_id=f"{self.run_id}:{question.id}",
            question=question,
            retrieved=retrieved,
            routed=routed,
            run=run,
            total_latency_ms=total_latency_ms,
            other=other,
        )

    def _retrieve(self, question: Question) -> Retrieved:
        t = time.perf_counter()
        passages = self.stages.knowledge.search(
            question.text, tenant=self.tenant, k=self.config.retrieval.top_k
        )
        return Retrieved(passages, (time.perf_counter() - t) * 1000)

    def _route(self, question: Question, retrieved: Retrieved) -> Routed:
        scorer, router = self.stages.scorer, self.stages.router
        t = time.perf_counter()
        score = scorer.score(
            question.text,
            ScoreContext(
                needs_screen=question.needs_screen,
                retrieval_top_score=retrieved.passages[0].score if retrieved.passages else None,
            ),
        )
        route = router.route(score.value)
        return Routed(
            scorer=scorer.name,
            score=score,
            router=router.name,
            threshold=router.threshold,
            route=route,
            latency_ms=(time.perf_counter() - t) * 1000,
        )

    def _run_tier(self, question: Question, tier: str, retrieved: Retrieved) -> TierRun:
        """Read the screen (when the question needs it) and answer, with ``tier``'s providers."""
        vision = StageRun("vision")
        screen = self._look(question, tier, vision) if question.needs_screen else ()
        frame_size = self._read_size(vision)
        llm = StageRun("llm")
        provider = self.stages.llm[tier]
        request = AnswerRequest(
            question=question.text,
            transcript=self._recent(question.t_s),
            screen=screen,
            knowledge=tuple(retrieved.passages),
        )
        cache = self.answer_cache if self.both_tiers else None
        key = answer_key(provider.spec, request) if cache is not None else ""
        hit = cache.get(key) if cache is not None else None
        if hit is not None:  # same question, same context, same model: no call, no cost
            llm.model_requested = llm.model_resolved = provider.spec
            cached: CallResult[Any] = CallResult(
                value=hit.answer,
                usage=hit.usage,
                provider=provider.provider,
                model_requested=provider.model,
                model_resolved=provider.model,
                latency_ms=0.0,
                ttft_ms=None,
                attempts=0,
                local=provider.local,
            )
            return TierRun(
                tier, provider.spec, vision, llm, cached, cached=True, request=request,
                frame_size=frame_size,
            )
        result = self.stages.llm.call(tier, llm, lambda p: p.answer(request))
        run = TierRun(
            tier, provider.spec, vision, llm, result, cached=False, request=request,
            frame_size=frame_size,
        )
        if cache is not None and result is not None and llm.fallback_model is None:
            run.cache_record = cache.put(key, provider.spec, result.value, result.usage)
        return run

    def _look(self, question: Question, tier: str, stage: StageRun) -> tuple[Passage, ...]:
        frame = self.stages.sampler.latest()
        provider = self.stages.vision[tier]
        stage.model_requested = provider.spec
        if frame is None:
            stage.errors.append("vision: no screen frame kept yet")
            return ()
        hit = provider.cached(frame)
        if hit is not None:  # same screen, same model: no call, no cost
            stage.model_resolved = provider.spec
            return (Passage("screen", hit),) if hit else ()
        result = self.stages.vision.call(tier, stage, lambda p: p.analyze(frame, question.text))
        if result is None or not result.value:
            return ()
        return (Passage("screen", str(result.value)),)

    def _read_size(self, vision: StageRun) -> tuple[int, int] | None:
        """The latest kept frame's size when ``vision`` read it with a call (not from cache)."""
        frame = self.stages.sampler.latest()
        if frame is None or not any(isinstance(c, CallResult) for c in vision.calls):
            return None
        height, width = frame.rgb.shape[:2]
        return int(width), int(height)

    def _recent(self, t_s: float) -> tuple[Passage, ...]:
        start = t_s - self.config.transcript_window_s
        return tuple(
            Passage(
                f"transcript:{u.participant}@{_clock(u.start_s)}",
                f"{self.names.get(u.participant, u.participant)}: {u.text}",
            )
            for u in self.transcript
            if start <= u.end_s <= t_s
        )


def _clock(t_s: float) -> str:
    minutes, seconds = divmod(int(t_s), 60)
    return f"{minutes:02d}:{seconds:02d}"
