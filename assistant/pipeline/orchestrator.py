"""The assistant pipeline: one code path for recorded and live sources.

Events go in (frames, audio, questions); typed results come out (``assistant.pipeline.results``)
to the ``RequestRecorder``, which prices them and emits records through ``emit`` (the ledger writer
subscribes). Stages are injected (``Stages``). A question is answered in named steps: retrieve,
route, answer with the routed tier (read the screen, then answer, each failing over to the other
tier: ``TierPair``), and with ``both_tiers`` the other tier too. A request is always recorded,
with its true status.

Off the questions' path (``assistant.pipeline.background``): with ``[vision] prefetch`` (e.g.
``"cheap"``) each kept frame is read in the background with that tier (a frame of a screen read
before stands on that reading; a frame caught moving is not read), and a question routed to it
takes the reading (waiting only for what is left of it); with ``background_stt`` (replays:
``[stt] background``) segments are transcribed on a worker thread, and a question first waits
for every segment closed before it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextlib import nullcontext
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
from assistant.core.quality import declines
from assistant.ledger.records import RequestRecord
from assistant.pipeline.answers import AnswerCache, answer_key
from assistant.pipeline.background import Prefetcher, Read, Transcription, TranscriptionWorker
from assistant.pipeline.projecting import Projector
from assistant.pipeline.recorder import Record, RequestRecorder
from assistant.pipeline.results import (
    Answered,
    Decision,
    FrameKept,
    Retrieved,
    Routed,
    TierRun,
    Transcribed,
    TranscriptionFailed,
    UnusedRead,
)
from assistant.pipeline.stages import Stages
from assistant.pipeline.tiers import StageRun, other_tier
from assistant.providers.base import CallFailure, CallResult, ProviderCallError
from assistant.providers.llm.base import AnswerRequest
from assistant.providers.stt.base import Segment
from assistant.providers.vision.base import VisionProvider
from assistant.routing import (
    CASCADE_REASON,
    CHEAP,
    PREMIUM,
    Cascade,
    Route,
    Router,
    Score,
    ScoreContext,
)

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
    background_stt: bool = False  # transcribe on a worker thread (replays: ``[stt] background``)
    recorder: RequestRecorder = field(init=False)
    prefetcher: Prefetcher | None = field(init=False, default=None)
    stt_worker: TranscriptionWorker | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.both_tiers and self.answer_cache is None:
            self.answer_cache = AnswerCache()
        self.recorder = RequestRecorder(
            run_id=self.run_id,
            tenant=self.tenant,
            room=self.room,
            pricer=self.stages.pricer,
            emit=lambda record: self.emit(record),
            projector=Projector.default(self.stages.pricer) if self.project_costs else None,
        )
        if self.recorder.projector is not None:
            self.recorder.projector.preload()
        tiers = self.config.vision.prefetch_tiers
        if tiers:
            self.prefetcher = Prefetcher({tier: self.stages.vision[tier] for tier in tiers})
        if self.background_stt:
            self.stt_worker = TranscriptionWorker(self.stages.transcriber)

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
        """End of the session: the open utterances transcribed, background work waited for and
        recorded (the readings nobody used too), the workers stopped."""
        for segment in self.stages.transcriber.flush():
            self._transcribe(segment)
        self.collect(wait=True)
        if self.prefetcher is not None:  # the latest frames' readings too: nobody will ask now
            self._unused(self.prefetcher.unused(wait=True, latest=True))
        self.settle()
        self.close()

    def settle(self) -> None:
        """Emit what was kept off the questions' path: the projected cost of the requests
        answered since the last call, and the background work finished by now. Call it after an
        answer is out and before a checkpoint (``finish`` calls it too)."""
        self.collect(wait=False)
        self.recorder.project_pending()

    def collect(self, *, wait: bool, readings: bool = True) -> None:
        """Record the background work done by now (``wait``: all of it): transcriptions in the
        order their segments closed, then (``readings``) the prefetched readings of frames
        no longer the latest, which no question took. The latest frame's readings stay for the
        next question (``finish`` records them)."""
        if self.stt_worker is not None:
            for segment, outcome in self.stt_worker.done(wait=wait):
                self._record_transcription(segment, outcome)
        if readings and self.prefetcher is not None:
            self._unused(self.prefetcher.unused(wait=wait))

    def _unused(self, reads: list[Read]) -> None:
        for read in reads:
            paid = read.result if read.result is not None else read.failure
            if paid is not None:
                self.recorder.observe(UnusedRead(paid, read.frame.t_s))

    def close(self) -> None:
        """Stop the worker threads (work not started is dropped; nothing is recorded)."""
        for worker in (self.prefetcher, self.stt_worker):
            if worker is not None:
                worker.close()

    # -- resuming ---------------------------------------------------------------------------
    def restore(
        self, transcript: tuple[Utterance, ...], *, next_call_index: int, spent_usd: float = 0.0
    ) -> None:
        """Pick up a stopped run: its transcript so far, call ids after those it used, and what
        it had spent (so a budget holds across the stop)."""
        self.transcript = list(transcript)
        self.recorder.restart_ids(next_call_index)
        self.recorder.spent_usd = spent_usd

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
            if self.prefetcher is not None:
                self.prefetcher.submit(kept)

    # -- transcription -----------------------------------------------------------------------
    def _transcribe(self, segment: Segment) -> None:
        if self.stt_worker is not None:
            self.stt_worker.submit(segment)
            return
        outcome: Transcription
        try:
            outcome = self.stages.transcriber.transcribe(segment)
        except ProviderCallError as exc:
            outcome = exc.failure
        self._record_transcription(segment, outcome)

    def _record_transcription(self, segment: Segment, outcome: Transcription) -> None:
        if isinstance(outcome, CallFailure):
            self.recorder.observe(TranscriptionFailed(outcome, segment.start_s))
            return
        self.transcript.extend(outcome.value)
        self.recorder.observe(Transcribed(outcome, segment.start_s))

    # -- questions ---------------------------------------------------------------------------
    def ask(self, question: Question) -> RequestRecord:
        """Answer one question. Its records are made after the request is timed, so neither
        pricing nor a ledger flush counts as request latency; its projected cost is emitted by
        the next ``settle``."""
        record = self.recorder.observe(self._answer(question))
        assert record is not None
        return record

    def _answer(self, question: Question) -> Answered:
        started = time.perf_counter()
        if self.stt_worker is not None:  # the transcript a sequential run would have by now
            for segment, outcome in self.stt_worker.done(wait=True):
                self._record_transcription(segment, outcome)
        retrieved = self._retrieve(question)
        routed = self._route(question, retrieved)
        llm_tier = routed.llm.route.tier
        vision_tier = routed.vision_tier or llm_tier
        screen = self._screen(question, vision_tier)
        answered: dict[str, TierRun] = {}  # answer key -> the run that answered it (both_tiers)
        run = self._run(question, screen, llm_tier, retrieved, answered)
        if self._escalates(routed, run):
            routed, run = self._escalate(question, routed, screen, run, retrieved, answered)
        total_latency_ms = (time.perf_counter() - started) * 1000
        others: list[TierRun] = []
        if self.both_tiers:  # every other combination; each screen is read once per tier
            other_v, other_l = other_tier(vision_tier), other_tier(llm_tier)
            screens = {vision_tier: screen}
            if question.needs_screen:
                screens[other_v] = self._screen(question, other_v)
                combinations = [(other_v, other_l), (vision_tier, other_l), (other_v, llm_tier)]
            else:
                combinations = [(vision_tier, other_l)]
            for v, tier in combinations:
                others.append(self._run(question, screens[v], tier, retrieved, answered))
        return Answered(
            request_id=f"{self.run_id}:{question.id}",
            question=question,
            retrieved=retrieved,
            routed=routed,
            run=run,
            total_latency_ms=total_latency_ms,
            others=tuple(others),
        )

    def _retrieve(self, question: Question) -> Retrieved:
        t, cpu_s = time.perf_counter(), time.thread_time()
        passages = self.stages.knowledge.search(
            question.text, tenant=self.tenant, k=self.config.retrieval.top_k
        )
        return Retrieved(
            passages, (time.perf_counter() - t) * 1000, compute_s=time.thread_time() - cpu_s
        )

    # -- routing -----------------------------------------------------------------------------
    def running_usd_per_hour(self, t_s: float) -> float:
        """What the session has spent so far (routed requests and transcription, not the
        counterfactual tiers of ``both_tiers``) per media hour, over at least the budget's
        warm-up (``[routing] budget_warmup_s``)."""
        window_s = max(t_s, self.config.routing.budget_warmup_s)
        return self.recorder.spent_usd / window_s * 3600 if window_s > 0 else 0.0

    def _over_budget(self, t_s: float) -> bool:
        budget = self.config.routing.budget_for(self.tenant)
        return budget is not None and self.running_usd_per_hour(t_s) > budget

    def _route(self, question: Question, retrieved: Retrieved) -> Routed:
        stages = self.stages
        scorer, router = stages.scorer, stages.router
        t = time.perf_counter()
        context = ScoreContext(
            needs_screen=question.needs_screen,
            retrieval_top_score=retrieved.passages[0].score if retrieved.passages else None,
        )
        score = scorer.score(question.text, context)
        over = self._over_budget(question.t_s)
        llm = _decide(scorer.name, score, router, over_budget=over)
        vision = None
        if question.needs_screen:
            if stages.vision_router is None:  # one decision: the LLM's decides the screen too
                vision = llm
            else:
                v_scorer = stages.vision_scorer
                v_score = score if v_scorer is None else v_scorer.score(question.text, context)
                v_name = scorer.name if v_scorer is None else v_scorer.name
                vision = _decide(v_name, v_score, stages.vision_router, over_budget=over)
        return Routed(llm=llm, latency_ms=(time.perf_counter() - t) * 1000, vision=vision)

    # -- the cascade -------------------------------------------------------------------------
    def _escalates(self, routed: Routed, run: TierRun) -> bool:
        """Does the cascade (``[routing] cascade``) ask the premium tier again? Only for a
        request answered on the cheap tier as routed (not over budget, not ``both_tiers``,
        whose outcomes are the plain tiers), when its answer declines or is not confident."""
        routing = self.config.routing
        answer = run.answer
        if not routing.cascade or self.both_tiers or answer is None:
            return False
        if run.tier != CHEAP or routed.llm.reason == "budget":
            return False
        return self._cascade().escalates(
            declined=declines(answer.text), confidence=answer.confidence
        )

    def _cascade(self) -> Cascade:
        routing = self.config.routing
        return Cascade(routing.cascade_floor, reread_below=routing.cascade_reread_below)

    def _escalate(
        self,
        question: Question,
        routed: Routed,
        screen: _Screen,
        run: TierRun,
        retrieved: Retrieved,
        answered: dict[str, TierRun],
    ) -> tuple[Routed, TierRun]:
        """Answer again with the premium LLM, and keep that answer; read the screen again with
        the premium vision model first when the cheap reading holds too little of the question
        (``Cascade.rereads``). Each stage keeps both tiers' calls in order, so the request pays
        (and waits) for both; the decisions escalated say ``cascade``."""
        again_screen = screen
        if screen.tier is not None and screen.tier != PREMIUM:
            read = " ".join(p.text for p in screen.passages)
            if self._cascade().rereads(question.text, read):
                again_screen = self._screen(question, PREMIUM)
        again = self._run(question, again_screen, PREMIUM, retrieved, answered)
        vision = screen.stage
        if again_screen is not screen:
            vision = _joined(screen.stage, again_screen.stage)
        joined = dataclasses.replace(again, vision=vision, llm=_joined(run.llm, again.llm))

        def escalated(decision: Decision) -> Decision:
            route = dataclasses.replace(decision.route, tier=PREMIUM)
            return dataclasses.replace(decision, route=route, reason=CASCADE_REASON)

        llm = escalated(routed.llm)
        vision_decision = routed.vision  # the screen's decision changes only if read again
        if vision_decision is not None and again_screen is not screen:
            vision_decision = llm if vision_decision is routed.llm else escalated(vision_decision)
        return dataclasses.replace(routed, llm=llm, vision=vision_decision), joined

    # -- tiers -------------------------------------------------------------------------------
    def _screen(self, question: Question, tier: str) -> _Screen:
        """Read the screen with ``tier``'s vision model (nothing when the question does not
        need the screen)."""
        stage = StageRun("vision")
        if not question.needs_screen:
            return _Screen(None, stage, ())
        return _Screen(tier, stage, self._look(question, tier, stage))

    def _run(
        self,
        question: Question,
        screen: _Screen,
        tier: str,
        retrieved: Retrieved,
        answered: dict[str, TierRun],
    ) -> TierRun:
        """Answer with ``tier``'s model from what ``screen`` read. A combination whose answer
        request another combination of this request already made (two vision tiers that read
        the same text) shares that run's answer stage: one call, counted in both outcomes."""
        vision = screen.stage
        frame_size = self._read_size(vision)
        llm = StageRun("llm")
        provider = self.stages.llm[tier]
        request = AnswerRequest(
            question=question.text,
            transcript=self._recent(question.t_s),
            screen=screen.passages,
            knowledge=tuple(retrieved.passages),
        )
        cache = self.answer_cache if self.both_tiers else None
        key = answer_key(provider.spec, request) if cache is not None else ""
        same = answered.get(key) if cache is not None else None
        if same is not None:
            return TierRun(
                tier,
                provider.spec,
                vision,
                same.llm,
                same.result,
                same.cached,
                vision_tier=screen.tier,
                request=request,
                frame_size=frame_size,
            )
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
            hit_run = TierRun(
                tier, provider.spec, vision, llm, cached, cached=True,
                vision_tier=screen.tier, request=request, frame_size=frame_size,
            )
            answered[key] = hit_run
            return hit_run
        result = self.stages.llm.call(tier, llm, lambda p: p.answer(request))
        run = TierRun(
            tier, provider.spec, vision, llm, result, cached=False,
            vision_tier=screen.tier, request=request, frame_size=frame_size,
        )
        if cache is not None and result is not None and llm.fallback_model is None:
            run.cache_record = cache.put(key, provider.spec, result.value, result.usage)
            answered[key] = run
        return run

    def _look(self, question: Question, tier: str, stage: StageRun) -> tuple[Passage, ...]:
        frame = self.stages.sampler.latest()
        provider = self.stages.vision[tier]
        stage.model_requested = provider.spec
        if frame is None:
            stage.errors.append("vision: no screen frame kept yet")
            return ()
        prefetcher = self.prefetcher
        read = None
        if prefetcher is not None and prefetcher.providers.get(tier) is provider:
            read = prefetcher.take(tier, frame)
        if read is not None and read.hit is None and read.result is not None:
            # read in the background: a call of this request, of which it waited only the rest
            stage.calls.append(read.result)
            stage.model_resolved = f"{read.result.provider}:{read.result.model_resolved}"
            # (negative when it also waited for readings queued before it: the stage's latency
            # is then all it waited)
            stage.ahead_ms += read.result.latency_ms - read.waited_ms
            # the value itself, not str() of it: OCR's ScreenText carries its positions along
            return (Passage("screen", read.result.value),) if read.result.value else ()
        if read is not None and read.hit is not None:
            # read before, or the same screen as a frame read before (background.same_screen):
            # that reading's text, no call
            stage.model_resolved = provider.spec
            stage.ahead_ms -= read.waited_ms  # no call: the stage's latency is what it waited
            return (Passage("screen", read.hit),) if read.hit else ()
        if read is not None and read.failure is not None:  # no one used it; read it now
            self.recorder.observe(UnusedRead(read.failure, frame.t_s))
        with self._holding(provider):
            hit = provider.cached(frame)
        if hit is not None:  # same screen, same model: no call, no cost
            stage.model_resolved = provider.spec
            return (Passage("screen", hit),) if hit else ()
        result = self.stages.vision.call(tier, stage, lambda p: self._analyze(p, frame, question))
        if result is None or not result.value:
            return ()
        return (Passage("screen", result.value),)

    def _analyze(self, provider: VisionProvider, frame: KeptFrame, question: Question) -> Any:
        with self._holding(provider):
            return provider.analyze(frame, question.text)

    def _holding(self, provider: VisionProvider) -> Any:
        """The prefetcher's lock when ``provider`` is the one it reads with (one user at a
        time), else nothing to hold."""
        prefetcher = self.prefetcher
        if prefetcher is not None and prefetcher.reads_with(provider):
            return prefetcher.lock
        return nullcontext()

    def _read_size(self, vision: StageRun) -> tuple[int, int] | None:
        """The latest kept frame's size when ``vision`` read it with a call (not from cache)."""
        frame = self.stages.sampler.latest()
        if frame is None or not any(isinstance(c, CallResult) for c in vision.calls):
            return None
        return frame.width, frame.height

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


@dataclass(frozen=True, slots=True)
class _Screen:
    """What one vision tier read for one request (shared by every answer that uses it)."""

    tier: str | None  # None: the question does not need the screen
    stage: StageRun
    passages: tuple[Passage, ...]


def _joined(first: StageRun, then: StageRun) -> StageRun:
    """One stage made of two runs of it, one after the other (a cascade): every call of both
    in order, the second's models, both runs' errors."""
    return StageRun(
        first.kind,
        model_requested=then.model_requested,
        model_resolved=then.model_resolved,
        errors=first.errors + then.errors,
        fallback_model=then.fallback_model,
        calls=first.calls + then.calls,
        ahead_ms=first.ahead_ms + then.ahead_ms,
    )


def _decide(scorer: str, score: Score, router: Router, *, over_budget: bool) -> Decision:
    """``router``'s decision on ``score``; cheap (with certainty) when the budget is spent. The
    router draws either way, so a budget does not shift the draws of later requests."""
    route = router.route(score.value)
    base = getattr(router, "router", router).name  # an Exploring router's inner rule
    if over_budget:
        return Decision(scorer, score, router.name, router.threshold, Route(CHEAP, 1.0), "budget")
    reason = "explored" if route.explored else base
    return Decision(scorer, score, router.name, router.threshold, route, reason)


def _clock(t_s: float) -> str:
    minutes, seconds = divmod(int(t_s), 60)
    return f"{minutes:02d}:{seconds:02d}"
