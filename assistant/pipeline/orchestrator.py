"""The assistant pipeline: one code path for recorded and live sources.

Events go in (frames, audio, questions); records come out through ``emit`` (the ledger writer
subscribes). Stages are injected: any sampler, transcriber, vision and LLM providers per tier,
scorer, router and knowledge base. A failed provider call falls back to the other tier's provider
when there is one, and a request is always recorded, with its true status.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from assistant.core.config import Config
from assistant.core.errors import ConfigError, ProviderError
from assistant.core.events import (
    Answer,
    AudioChunk,
    Event,
    KeptFrame,
    Passage,
    Question,
    Usage,
    Utterance,
    VideoFrame,
)
from assistant.core.quality import Quality, score_answer
from assistant.ledger.records import (
    AnswerCacheRecord,
    CallRecord,
    FrameRecord,
    RequestRecord,
    TierOutcomeRecord,
    UtteranceRecord,
)
from assistant.pipeline.sampling import Sampler
from assistant.pricing.prices import Pricer
from assistant.providers.base import CallFailure, CallResult, Provider, ProviderCallError
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.stt.base import Segment, Transcriber
from assistant.providers.vision.base import VisionProvider
from assistant.rag.bm25 import KnowledgeBase
from assistant.routing import CHEAP, PREMIUM, Router, ScoreContext, Scorer

Record = (
    CallRecord
    | FrameRecord
    | RequestRecord
    | UtteranceRecord
    | TierOutcomeRecord
    | AnswerCacheRecord
)


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    spec: str
    answer: Answer
    usage: Usage


def answer_key(spec: str, request: AnswerRequest) -> str:
    """The content hash an answer is cached under: provider spec, question, every passage."""
    payload = json.dumps(
        [spec, request.question, [[p.source, p.text] for p in request.passages]],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _answer_json(answer: Answer) -> str:
    citations = [{"source": c.source, "text": c.text, "score": c.score} for c in answer.citations]
    return json.dumps({"text": answer.text, "citations": citations}, ensure_ascii=False)


def _answer_from_json(text: str) -> Answer:
    data = json.loads(text)
    return Answer(
        data["text"],
        tuple(Passage(c["source"], c["text"], c.get("score", 0.0)) for c in data["citations"]),
    )


class AnswerCache:
    """Answers by content hash (see ``answer_key``): the same question with the same context, asked
    of the same model, is answered once. ``load`` fills it from ledger rows; ``put`` returns the
    row to persist."""

    def __init__(self) -> None:
        self._entries: dict[str, CachedAnswer] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedAnswer | None:
        return self._entries.get(key)

    def put(self, key: str, spec: str, answer: Answer, usage: Usage) -> AnswerCacheRecord:
        self._entries[key] = CachedAnswer(spec, answer, usage)
        return AnswerCacheRecord(
            key=key,
            spec=spec,
            answer_json=_answer_json(answer),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )

    def load(self, rows: list[tuple[str, str, str, int, int]]) -> None:
        """Add ``(key, spec, answer_json, input_tokens, output_tokens)`` rows."""
        for key, spec, answer_json, input_tokens, output_tokens in rows:
            self._entries[key] = CachedAnswer(
                spec, _answer_from_json(answer_json), Usage(int(input_tokens), int(output_tokens))
            )


@dataclass(slots=True)
class _TierRun:
    """One tier's vision and answer stages for one request."""

    tier: str
    vision: _Stage
    llm: _Stage
    result: CallResult[Any] | None
    cached: bool

    @property
    def answer(self) -> Answer | None:
        return self.result.value if self.result else None


@dataclass(slots=True)
class _Stage:
    """What one stage of one request cost and took, and how it went."""

    latency_ms: float = 0.0
    cost_usd: float = 0.0
    model_requested: str | None = None
    model_resolved: str | None = None
    errors: list[str] = field(default_factory=list)
    fallback_model: str | None = None


@dataclass
class Pipeline:
    run_id: str
    tenant: str
    room: str
    config: Config
    sampler: Sampler
    transcriber: Transcriber
    vision: dict[str, VisionProvider]
    llm: dict[str, LLM]
    scorer: Scorer
    router: Router
    knowledge: KnowledgeBase
    pricer: Pricer
    emit: Callable[[Record], None]
    names: dict[str, str] = field(default_factory=dict)  # identity -> display name
    both_tiers: bool = False  # also answer with the other tier, into tier_outcomes
    answer_cache: AnswerCache | None = None  # used with both_tiers (one is made when None)
    transcript: list[Utterance] = field(default_factory=list)
    _ids: count[int] = field(default_factory=count)

    def __post_init__(self) -> None:
        if self.both_tiers and self.answer_cache is None:
            self.answer_cache = AnswerCache()

    # -- events ------------------------------------------------------------------------------
    def handle(self, event: Event) -> RequestRecord | None:
        if isinstance(event, VideoFrame):
            self._record_frame(self.sampler.offer(event))
        elif isinstance(event, AudioChunk):
            for segment in self.transcriber.push(event):
                self._transcribe(segment)
            self.sampler.on_voice(event.t_s + event.duration_s, self.transcriber.speaking)
        elif isinstance(event, Question):
            self._record_frame(self.sampler.on_question(event.t_s))
            return self.ask(event)
        return None

    # -- resuming ---------------------------------------------------------------------------
    def restore(self, transcript: tuple[Utterance, ...], *, next_call_index: int) -> None:
        """Pick up a stopped run: its transcript so far, and call ids after those it used."""
        self.transcript = list(transcript)
        self._ids = count(next_call_index)

    def catch_up(self, event: Event) -> None:
        """Take in an event whose rows are already stored: the sampler and the voice gate
        move on as in ``handle``, but nothing is transcribed, answered or emitted."""
        if isinstance(event, VideoFrame):
            self.sampler.offer(event)
        elif isinstance(event, AudioChunk):
            for _segment in self.transcriber.push(event):
                pass  # transcribed before the stop: its utterances came back with restore()
            self.sampler.on_voice(event.t_s + event.duration_s, self.transcriber.speaking)
        elif isinstance(event, Question):
            self.sampler.on_question(event.t_s)

    def _record_frame(self, kept: KeptFrame | None) -> None:
        if kept is None:
            return
        height, width = kept.rgb.shape[:2]
        self.emit(
            FrameRecord(
                run_id=self.run_id,
                track=kept.track,
                media_t_s=kept.t_s,
                reason=kept.reason,
                change_score=kept.change_score,
                width=width,
                height=height,
                frame_hash=kept.digest,
            )
        )

    def finish(self) -> None:
        for segment in self.transcriber.flush():
            self._transcribe(segment)

    # -- transcription -----------------------------------------------------------------------
    def _transcribe(self, segment: Segment) -> None:
        try:
            result = self.transcriber.transcribe(segment)
        except ProviderCallError as exc:
            self._emit_failure(exc.failure, stage="stt", request_id=None, media_t_s=segment.start_s)
            return
        self._emit_call(result, stage="stt", request_id=None, media_t_s=segment.start_s)
        for utterance in result.value:
            self.transcript.append(utterance)
            self.emit(
                UtteranceRecord(
                    run_id=self.run_id,
                    participant=utterance.participant,
                    start_s=utterance.start_s,
                    end_s=utterance.end_s,
                    text=utterance.text,
                    provider=result.provider,
                    model=result.model_resolved,
                    confidence=utterance.confidence,
                    words_json=_words_json(utterance),
                )
            )

    # -- questions ---------------------------------------------------------------------------
    def ask(self, question: Question) -> RequestRecord:
        """Answer one question. Its records are held back and emitted after the request is timed,
        so a ledger flush never counts as request latency."""
        held: list[Record] = []
        emit, self.emit = self.emit, held.append
        try:
            record = self._ask(question)
        finally:
            self.emit = emit
        for item in held:
            self.emit(item)
        return record

    def _ask(self, question: Question) -> RequestRecord:
        started = time.perf_counter()
        request_id = f"{self.run_id}:{question.id}"
        retrieval = _Stage()
        t = time.perf_counter()
        knowledge = self.knowledge.search(
            question.text, tenant=self.tenant, k=self.config.retrieval.top_k
        )
        retrieval.latency_ms = (time.perf_counter() - t) * 1000
        usage = Usage(compute_s=retrieval.latency_ms / 1000)
        retrieval.cost_usd = self.pricer.cost_usd(provider="bm25", model="bm25s", usage=usage)
        self.emit(
            self._call_record(
                request_id=request_id,
                stage="retrieval",
                provider="bm25",
                model="bm25s",
                resolved="bm25s",
                media_t_s=question.t_s,
                latency_ms=retrieval.latency_ms,
                usage=usage,
                cost_usd=retrieval.cost_usd,
                attempts=1,
            )
        )

        t = time.perf_counter()
        score = self.scorer.score(
            question.text,
            ScoreContext(
                needs_screen=question.needs_screen,
                retrieval_top_score=knowledge[0].score if knowledge else None,
            ),
        )
        route = self.router.route(score.value)
        routing_ms = (time.perf_counter() - t) * 1000

        run = self._run_tier(question, route.tier, request_id, knowledge)
        vision, llm, result = run.vision, run.llm, run.result
        total_latency_ms = (time.perf_counter() - started) * 1000
        answer = run.answer
        quality = _quality(question, answer)
        errors = vision.errors + llm.errors
        fallback_model = llm.fallback_model or vision.fallback_model
        status = _status(run)
        record = RequestRecord(
            request_id=request_id,
            run_id=self.run_id,
            tenant=self.tenant,
            room=self.room,
            question_id=question.id,
            media_t_s=question.t_s,
            asker=question.asker,
            question=question.text,
            needs_screen=question.needs_screen,
            scorer=self.scorer.name,
            score=score.value,
            score_features_json=json.dumps(score.contributions, sort_keys=True),
            router=self.router.name,
            threshold=self.router.threshold,
            tier=route.tier,
            explored=route.explored,
            propensity=route.propensity,
            vision_model_requested=vision.model_requested,
            vision_model_resolved=vision.model_resolved,
            llm_model_requested=llm.model_requested or self.llm[route.tier].spec,
            llm_model_resolved=llm.model_resolved,
            input_tokens=result.usage.input_tokens if result else 0,
            output_tokens=result.usage.output_tokens if result else 0,
            routing_latency_ms=routing_ms,
            vision_latency_ms=vision.latency_ms,
            retrieval_latency_ms=retrieval.latency_ms,
            llm_latency_ms=llm.latency_ms,
            total_latency_ms=total_latency_ms,
            vision_cost_usd=vision.cost_usd,
            retrieval_cost_usd=retrieval.cost_usd,
            llm_cost_usd=llm.cost_usd,
            total_cost_usd=vision.cost_usd + retrieval.cost_usd + llm.cost_usd,
            status=status,
            error="; ".join(errors) or None,
            fallback_model=fallback_model,
            answer=answer.text if answer else None,
            citations_json=json.dumps(
                [{"ref": i, "source": c.source} for i, c in enumerate(answer.citations, start=1)]
                if answer
                else []
            ),
            retrieval_json=json.dumps([{"chunk": p.source, "score": p.score} for p in knowledge]),
            reference_answer=question.reference,
            quality_f1=quality.f1 if quality else None,
            quality_key_facts=quality.key_facts if quality else None,
            quality=quality.score if quality else None,
        )
        self.emit(record)
        if self.both_tiers:
            shared_ms = retrieval.latency_ms + routing_ms
            self._emit_outcome(question, request_id, run, shared_ms, retrieval.cost_usd)
            other = self._run_tier(question, other_tier(route.tier), request_id, knowledge)
            self._emit_outcome(question, request_id, other, shared_ms, retrieval.cost_usd)
        return record

    def _run_tier(
        self, question: Question, tier: str, request_id: str, knowledge: list[Passage]
    ) -> _TierRun:
        """Read the screen (when the question needs it) and answer, with ``tier``'s providers."""
        vision = _Stage()
        screen: tuple[Passage, ...] = ()
        if question.needs_screen:
            screen = self._look(question, tier, request_id, vision)
        llm = _Stage()
        request = AnswerRequest(
            question=question.text,
            transcript=self._recent(question.t_s),
            screen=screen,
            knowledge=tuple(knowledge),
        )
        cache = self.answer_cache if self.both_tiers else None
        key = answer_key(self.llm[tier].spec, request) if cache is not None else ""
        hit = cache.get(key) if cache is not None else None
        if hit is not None:  # same question, same context, same model: no call, no cost
            provider = self.llm[tier]
            llm.model_requested = llm.model_resolved = provider.spec
            result: CallResult[Any] | None = CallResult(
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
            return _TierRun(tier, vision, llm, result, cached=True)
        result = self._with_fallback(
            self.llm,
            tier,
            llm,
            kind="llm",
            request_id=request_id,
            media_t_s=question.t_s,
            call=lambda p: p.answer(request),
        )
        if cache is not None and result is not None and llm.fallback_model is None:
            self.emit(cache.put(key, self.llm[tier].spec, result.value, result.usage))
        return _TierRun(tier, vision, llm, result, cached=False)

    def _emit_outcome(
        self,
        question: Question,
        request_id: str,
        run: _TierRun,
        shared_ms: float,
        shared_cost_usd: float,
    ) -> None:
        answer = run.answer
        quality = _quality(question, answer)
        self.emit(
            TierOutcomeRecord(
                run_id=self.run_id,
                request_id=request_id,
                tier=run.tier,
                vision_model=run.vision.model_resolved or run.vision.model_requested,
                llm_model=run.llm.model_resolved
                or run.llm.model_requested
                or self.llm[run.tier].spec,
                latency_ms=shared_ms + run.vision.latency_ms + run.llm.latency_ms,
                cost_usd=shared_cost_usd + run.vision.cost_usd + run.llm.cost_usd,
                answer=answer.text if answer else None,
                quality=quality.score if quality else None,
                quality_f1=quality.f1 if quality else None,
                quality_key_facts=quality.key_facts if quality else None,
                status=_status(run),
                cached=run.cached,
            )
        )

    def _look(
        self, question: Question, tier: str, request_id: str, stage: _Stage
    ) -> tuple[Passage, ...]:
        frame = self.sampler.latest()
        provider = self.vision[tier]
        stage.model_requested = provider.spec
        if frame is None:
            stage.errors.append("vision: no screen frame kept yet")
            return ()
        hit = provider.cached(frame)
        if hit is not None:  # same screen, same model: no call, no cost
            stage.model_resolved = provider.spec
            return (Passage("screen", hit),) if hit else ()
        result = self._with_fallback(
            self.vision,
            tier,
            stage,
            kind="vision",
            request_id=request_id,
            media_t_s=question.t_s,
            call=lambda p: p.analyze(frame, question.text),
        )
        if result is None or not result.value:
            return ()
        return (Passage("screen", str(result.value)),)

    def _with_fallback(
        self,
        providers: Mapping[str, Provider],
        tier: str,
        stage: _Stage,
        *,
        kind: str,
        request_id: str,
        media_t_s: float,
        call: Callable[[Any], CallResult[Any]],
    ) -> CallResult[Any] | None:
        """Call the tier's provider; on failure, the other tier's (if it is a different model)."""
        primary = providers[tier]
        stage.model_requested = primary.spec
        chain = [primary]
        backup = providers.get(other_tier(tier))
        if backup is not None and backup.spec != primary.spec:
            chain.append(backup)
        for position, provider in enumerate(chain):
            try:
                result = call(provider)
            except ProviderCallError as exc:
                stage.latency_ms += exc.failure.latency_ms
                stage.errors.append(f"{kind} {provider.spec}: {exc.failure.error}")
                self._emit_failure(
                    exc.failure, stage=kind, request_id=request_id, media_t_s=media_t_s
                )
                continue
            except ProviderError as exc:  # configuration problems raised before any call
                stage.errors.append(f"{kind} {provider.spec}: {exc}")
                continue
            stage.latency_ms += result.latency_ms
            stage.cost_usd += self._emit_call(
                result, stage=kind, request_id=request_id, media_t_s=media_t_s
            )
            stage.model_resolved = f"{result.provider}:{result.model_resolved}"
            if position > 0:
                stage.fallback_model = stage.model_resolved
            return result
        return None

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

    # -- records -----------------------------------------------------------------------------
    def _call_record(
        self,
        *,
        request_id: str | None,
        stage: str,
        provider: str,
        model: str,
        resolved: str | None,
        media_t_s: float,
        latency_ms: float,
        usage: Usage,
        cost_usd: float,
        attempts: int,
        ttft_ms: float | None = None,
        status: str = "ok",
        error: str | None = None,
    ) -> CallRecord:
        return CallRecord(
            call_id=f"{self.run_id}:{next(self._ids):06d}",
            run_id=self.run_id,
            request_id=request_id,
            tenant=self.tenant,
            stage=stage,
            provider=provider,
            model_requested=model,
            model_resolved=resolved,
            media_t_s=media_t_s,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            image_count=usage.image_count,
            audio_s=usage.audio_s,
            compute_s=usage.compute_s,
            cost_usd=cost_usd,
            attempts=attempts,
            status=status,
            error=error,
        )

    def _emit_call(
        self, result: CallResult[Any], *, stage: str, request_id: str | None, media_t_s: float
    ) -> float:
        try:
            cost = self.pricer.cost_usd(
                provider=result.provider,
                model=result.model_resolved,
                usage=result.usage,
                local=result.local,
            )
        except ConfigError:  # the vendor answered with a model name we have no price for
            cost = self.pricer.cost_usd(
                provider=result.provider,
                model=result.model_requested,
                usage=result.usage,
                local=result.local,
            )
        self.emit(
            self._call_record(
                request_id=request_id,
                stage=stage,
                provider=result.provider,
                model=result.model_requested,
                resolved=result.model_resolved,
                media_t_s=media_t_s,
                latency_ms=result.latency_ms,
                usage=result.usage,
                cost_usd=cost,
                attempts=result.attempts,
                ttft_ms=result.ttft_ms,
            )
        )
        return cost

    def _emit_failure(
        self, failure: CallFailure, *, stage: str, request_id: str | None, media_t_s: float
    ) -> None:
        self.emit(
            self._call_record(
                request_id=request_id,
                stage=stage,
                provider=failure.provider,
                model=failure.model_requested,
                resolved=None,
                media_t_s=media_t_s,
                latency_ms=failure.latency_ms,
                usage=Usage(),
                cost_usd=0.0,
                attempts=failure.attempts,
                status="error",
                error=str(failure.error),
            )
        )


def _quality(question: Question, answer: Answer | None) -> Quality | None:
    if answer is None:
        return None
    return score_answer(answer.text, reference=question.reference, key_facts=question.key_facts)


def _status(run: _TierRun) -> str:
    if run.answer is None:
        return "error"  # no answer at all
    if run.llm.fallback_model or run.vision.fallback_model:
        return "fallback"  # answered, by another model than the one routed to
    if run.vision.errors or run.llm.errors:
        return "degraded"  # answered without a stage (e.g. no screen to read)
    return "ok"


def _words_json(utterance: Utterance) -> str | None:
    if not utterance.words:
        return None
    return json.dumps(
        [
            {"w": w.text, "s": round(w.start_s, 3), "e": round(w.end_s, 3), "c": w.confidence}
            for w in utterance.words
        ]
    )


def _clock(t_s: float) -> str:
    minutes, seconds = divmod(int(t_s), 60)
    return f"{minutes:02d}:{seconds:02d}"


def other_tier(tier: str) -> str:
    return CHEAP if tier == PREMIUM else PREMIUM
