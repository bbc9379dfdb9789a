"""The recorder: subscribes to the pipeline's results, prices them and emits ledger records.

Every figure of a run's rows is made here: call ids (in the order calls are recorded), each call's
cost (``Pricer``), a request's per-stage and total cost, its quality grade and status.

A call answered from the call cache paid nothing: its row's ``cost_usd`` is 0 (what the run paid
now), and its original usage priced now is kept apart (``original_cost_usd``: its cost if paid
now). A request's costs, a combination's (``tier_outcomes``) and what a budget counts are the
costs of the calls as if paid, so that no comparison of runs, no sweep and no routing depends on
what the cache held; what was paid is the calls' ``cost_usd``. A result made now that the cache
keeps is emitted as a ``CallCacheRecord`` beside its call's row (the same checkpoint).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import count
from typing import Any

from assistant.core.errors import ConfigError
from assistant.core.events import Answer, Question, Usage, Utterance
from assistant.core.quality import Quality, score_answer
from assistant.ledger.records import (
    AnswerCacheRecord,
    CallCacheRecord,
    CallRecord,
    FrameRecord,
    ProjectionRecord,
    RequestInputRecord,
    RequestRecord,
    TierOutcomeRecord,
    UtteranceRecord,
)
from assistant.pipeline.projecting import Projector, input_record
from assistant.pipeline.results import (
    Answered,
    FrameKept,
    Result,
    TierRun,
    Transcribed,
    TranscriptionFailed,
    UnusedRead,
)
from assistant.pipeline.tiers import StageRun, outcome_tier
from assistant.pricing.prices import Pricer
from assistant.providers.base import CallFailure, CallResult

Record = (
    CallRecord
    | FrameRecord
    | ProjectionRecord
    | RequestInputRecord
    | RequestRecord
    | UtteranceRecord
    | TierOutcomeRecord
    | AnswerCacheRecord
    | CallCacheRecord
)

RETRIEVAL_PROVIDER, RETRIEVAL_MODEL = "bm25", "bm25s"


class RequestRecorder:
    """Turns ``Result``s into priced records, passed to ``emit`` (the ledger writer's append)."""

    def __init__(
        self,
        *,
        run_id: str,
        tenant: str,
        room: str,
        pricer: Pricer,
        emit: Callable[[Record], None],
        projector: Projector | None = None,
    ) -> None:
        self.run_id = run_id
        self.tenant = tenant
        self.room = room
        self.pricer = pricer
        self.emit = emit
        self.projector = projector  # projected cloud costs, kept apart from measured ones
        self._unprojected: list[tuple[RequestInputRecord, float]] = []  # see ``project_pending``
        self._ids = count()
        self.spent_usd = 0.0  # transcription and routed requests so far (what a budget limits)

    def restart_ids(self, next_call_index: int) -> None:
        """Number calls from ``next_call_index`` on (a resumed run: after those it used)."""
        self._ids = count(next_call_index)

    def observe(self, result: Result) -> RequestRecord | None:
        """Record one result; an answered question's request record is returned too."""
        if isinstance(result, FrameKept):
            self._frame(result)
        elif isinstance(result, Transcribed):
            self._transcribed(result)
        elif isinstance(result, TranscriptionFailed):
            self._failure(result.failure, stage="stt", request_id=None, media_t_s=result.media_t_s)
        elif isinstance(result, UnusedRead):  # a prefetched screen reading: paid, not used
            self._unused_read(result)
        else:
            return self._answered(result)
        return None

    # -- frames and speech -------------------------------------------------------------------
    def _frame(self, kept: FrameKept) -> None:
        frame = kept.frame
        width, height = frame.width, frame.height  # read without converting it
        self.emit(
            FrameRecord(
                run_id=self.run_id,
                track=frame.track,
                media_t_s=frame.t_s,
                reason=frame.reason,
                change_score=frame.change_score,
                width=width,
                height=height,
                frame_hash=frame.digest,
            )
        )

    def _transcribed(self, done: Transcribed) -> None:
        result = done.result
        self.spent_usd += self._call(result, stage="stt", request_id=None, media_t_s=done.media_t_s)
        if self.projector is not None:
            for row in self.projector.transcription(
                self.run_id, result.usage.audio_s, media_t_s=done.media_t_s
            ):
                self.emit(row)
        for utterance in result.value:
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

    def _unused_read(self, read: UnusedRead) -> None:
        if isinstance(read.outcome, CallFailure):
            self._failure(read.outcome, stage="vision", request_id=None, media_t_s=read.media_t_s)
        else:
            self.spent_usd += self._call(
                read.outcome, stage="vision", request_id=None, media_t_s=read.media_t_s
            )

    # -- requests ----------------------------------------------------------------------------
    def _answered(self, done: Answered) -> RequestRecord:
        question, request_id = done.question, done.request_id
        retrieved, routed, run = done.retrieved, done.routed, done.run
        cpu_s = retrieved.compute_s
        usage = Usage(compute_s=retrieved.latency_ms / 1000 if cpu_s is None else cpu_s)
        retrieval_cost = self.pricer.cost_usd(
            provider=RETRIEVAL_PROVIDER, model=RETRIEVAL_MODEL, usage=usage
        )
        self.emit(
            self._call_record(
                request_id=request_id,
                stage="retrieval",
                provider=RETRIEVAL_PROVIDER,
                model=RETRIEVAL_MODEL,
                resolved=RETRIEVAL_MODEL,
                media_t_s=question.t_s,
                latency_ms=retrieved.latency_ms,
                usage=usage,
                cost_usd=retrieval_cost,
                attempts=1,
            )
        )
        paid: dict[int, float] = {}  # id(stage) -> its cost: a shared screen reading pays once
        vision_cost, llm_cost = self._tier_calls(run, request_id, question.t_s, paid)
        vision, llm, result, answer = run.vision, run.llm, run.result, run.answer
        quality = _quality(question, answer)
        seen = routed.vision
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
            scorer=routed.llm.scorer,
            score=routed.llm.score.value,
            score_features_json=json.dumps(routed.llm.score.contributions, sort_keys=True),
            router=routed.llm.router,
            threshold=routed.llm.threshold,
            tier=routed.llm.route.tier,
            explored=routed.llm.route.explored,
            propensity=routed.llm.route.propensity,
            vision_model_requested=vision.model_requested,
            vision_model_resolved=vision.model_resolved,
            llm_model_requested=llm.model_requested or run.llm_spec,
            llm_model_resolved=llm.model_resolved,
            input_tokens=result.usage.input_tokens if result else 0,
            output_tokens=result.usage.output_tokens if result else 0,
            routing_latency_ms=routed.latency_ms,
            vision_latency_ms=vision.latency_ms,
            retrieval_latency_ms=retrieved.latency_ms,
            llm_latency_ms=llm.latency_ms,
            total_latency_ms=done.total_latency_ms,
            vision_cost_usd=vision_cost,
            retrieval_cost_usd=retrieval_cost,
            llm_cost_usd=llm_cost,
            total_cost_usd=vision_cost + retrieval_cost + llm_cost,
            status=run.status,
            error="; ".join(vision.errors + llm.errors) or None,
            fallback_model=llm.fallback_model or vision.fallback_model,
            answer=answer.text if answer else None,
            citations_json=json.dumps(
                [{"ref": i, "source": c.source} for i, c in enumerate(answer.citations, start=1)]
                if answer
                else []
            ),
            retrieval_json=json.dumps(
                [{"chunk": p.source, "score": p.score} for p in retrieved.passages]
            ),
            reference_answer=question.reference,
            quality_f1=quality.f1 if quality else None,
            quality_key_facts=quality.key_facts if quality else None,
            quality=quality.score if quality else None,
            vision_scorer=None if seen is None else seen.scorer,
            vision_score=None if seen is None else seen.score.value,
            vision_threshold=None if seen is None else seen.threshold,
            vision_tier=None if seen is None else seen.route.tier,
            vision_explored=None if seen is None else seen.route.explored,
            vision_propensity=None if seen is None else seen.route.propensity,
            route_reason=routed.llm.reason,
            vision_route_reason=None if seen is None else seen.reason,
        )
        self.emit(record)
        self.spent_usd += record.total_cost_usd
        self._inputs(request_id, run, question.t_s, routed=True)
        for other in done.others:  # the plain tiers; a mixed combination is priced from them
            if other.vision_tier in (None, other.tier):
                self._inputs(request_id, other, question.t_s, routed=False)
        if done.others:
            shared_ms = retrieved.latency_ms + routed.latency_ms
            self._outcome(
                question, request_id, run, shared_ms, retrieval_cost, vision_cost, llm_cost
            )
            for other in done.others:
                costs = self._tier_calls(other, request_id, question.t_s, paid)
                self._outcome(question, request_id, other, shared_ms, retrieval_cost, *costs)
        return record

    def _inputs(self, request_id: str, run: TierRun, media_t_s: float, *, routed: bool) -> None:
        """What the tier would have sent to cloud adapters; its projected cost is counted later
        (``project_pending``)."""
        record = input_record(self.run_id, request_id, run, routed=routed)
        self.emit(record)
        if self.projector is not None:
            self._unprojected.append((record, media_t_s))

    def project_pending(self) -> int:
        """Emit the projected cost of the requests recorded since the last call; how many.
        Counting their tokens takes longer than the rest of a request's bookkeeping, so it is
        kept off the question's path: the caller runs it once the answer is out, before the
        checkpoint that stores the request's rows."""
        pending, self._unprojected = self._unprojected, []
        if self.projector is not None:
            for record, media_t_s in pending:
                for row in self.projector.request(record, media_t_s=media_t_s):
                    self.emit(row)
        return len(pending)

    def _tier_calls(
        self, run: TierRun, request_id: str, media_t_s: float, paid: dict[int, float]
    ) -> tuple[float, float]:
        """Record a run's vision and answer calls (and its new cached answer); their costs (as
        if paid). A stage already recorded for another run of the request (in ``paid``) is not
        recorded again, and its cost counts for this run too: what this combination would have
        cost."""
        costs = []
        for stage in (run.vision, run.llm):
            if id(stage) not in paid:
                paid[id(stage)] = self._stage_calls(stage, request_id, media_t_s)
            costs.append(paid[id(stage)])
        if run.cache_record is not None:
            self.emit(run.cache_record)
        return costs[0], costs[1]

    def _stage_calls(self, stage: StageRun, request_id: str, media_t_s: float) -> float:
        cost = 0.0
        for call in stage.calls:
            if isinstance(call, CallFailure):
                self._failure(call, stage=stage.kind, request_id=request_id, media_t_s=media_t_s)
            else:
                cost += self._call(
                    call, stage=stage.kind, request_id=request_id, media_t_s=media_t_s
                )
        return cost

    def _outcome(
        self,
        question: Question,
        request_id: str,
        run: TierRun,
        shared_ms: float,
        shared_cost_usd: float,
        vision_cost_usd: float,
        llm_cost_usd: float,
    ) -> None:
        answer = run.answer
        quality = _quality(question, answer)
        self.emit(
            TierOutcomeRecord(
                run_id=self.run_id,
                request_id=request_id,
                tier=outcome_tier(run.vision_tier, run.tier),
                vision_model=run.vision.model_resolved or run.vision.model_requested,
                llm_model=run.llm.model_resolved or run.llm.model_requested or run.llm_spec,
                latency_ms=shared_ms + run.vision.latency_ms + run.llm.latency_ms,
                cost_usd=shared_cost_usd + vision_cost_usd + llm_cost_usd,
                answer=answer.text if answer else None,
                quality=quality.score if quality else None,
                quality_f1=quality.f1 if quality else None,
                quality_key_facts=quality.key_facts if quality else None,
                status=run.status,
                cached=run.cached or (run.result is not None and run.result.cached),
                vision_tier=run.vision_tier,
                llm_tier=run.tier,
            )
        )

    # -- calls -------------------------------------------------------------------------------
    def _price(self, result: CallResult[Any]) -> float:
        try:
            return self.pricer.cost_usd(
                provider=result.provider,
                model=result.model_resolved,
                usage=result.usage,
                local=result.local,
            )
        except ConfigError:  # the vendor answered with a model name we have no price for
            return self.pricer.cost_usd(
                provider=result.provider,
                model=result.model_requested,
                usage=result.usage,
                local=result.local,
            )

    def _call(
        self, result: CallResult[Any], *, stage: str, request_id: str | None, media_t_s: float
    ) -> float:
        """Record one call; its cost if paid (a cached call's row says it paid nothing)."""
        if_paid = self._price(result)
        cost = 0.0 if result.cached else if_paid
        record = self._call_record(
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
            cached=result.cached,
            original_latency_ms=result.original_latency_ms if result.cached else None,
            original_cost_usd=if_paid if result.cached else None,
        )
        self.emit(record)
        if result.cache_key is not None and result.cache_json is not None:
            usage = result.usage
            self.emit(
                CallCacheRecord(
                    key=result.cache_key,
                    spec=f"{result.provider}:{result.model_requested}",
                    stage=stage,
                    model_resolved=result.model_resolved,
                    value_json=result.cache_json,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    image_count=usage.image_count,
                    audio_s=usage.audio_s,
                    compute_s=usage.compute_s,
                    latency_ms=result.latency_ms,
                    cost_usd=cost,
                    run_id=self.run_id,
                    call_id=record.call_id,
                )
            )
        return if_paid

    def _failure(
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
        cached: bool = False,
        original_latency_ms: float | None = None,
        original_cost_usd: float | None = None,
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
            cached=cached,
            original_latency_ms=original_latency_ms,
            original_cost_usd=original_cost_usd,
        )


def _quality(question: Question, answer: Answer | None) -> Quality | None:
    if answer is None:
        return None
    return score_answer(answer.text, reference=question.reference, key_facts=question.key_facts)


def _words_json(utterance: Utterance) -> str | None:
    if not utterance.words:
        return None
    return json.dumps(
        [
            {"w": w.text, "s": round(w.start_s, 3), "e": round(w.end_s, 3), "c": w.confidence}
            for w in utterance.words
        ]
    )
