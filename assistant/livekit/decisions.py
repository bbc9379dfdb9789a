"""A routed turn as ledger rows, and the log that writes them through the ledger's sink.

``turn_records`` turns one turn (its ``Decision`` and the attempts the tiers made) into the rows
the workbench writes for its own requests: one ``RequestRecord`` (score, threshold, tier,
propensity, explored, route reason, models requested and resolved, usage, latency, cost) and one
``CallRecord`` per attempt (a failed tier's attempt too). ``LedgerDecisionLog`` writes them into a
ledger (a file, a held ``Ledger`` or any ``RunSink``: a lake's too) as one run per agent process,
off the event loop, in batches.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from assistant.core.errors import ConfigError
from assistant.core.events import Usage
from assistant.ledger.records import CallRecord, RequestRecord, RunRecord
from assistant.livekit.policy import Decision
from assistant.pricing.prices import Pricer

if TYPE_CHECKING:
    from assistant.ledger.sink import RunSink
    from assistant.ledger.store import Ledger

SOURCE_KIND = "agent"  # runs written by RoutedLLM inside a LiveKit Agents app


@dataclass(frozen=True, slots=True)
class Attempt:
    """One tier's try at a turn. ``provider`` is the pricing provider (``openai``, ...)."""

    tier: str
    provider: str
    model: str
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    status: str  # ok / error / cancelled
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """A routed turn: the question, the decision, every attempt (the last one answered when its
    status is ok) and the answer text."""

    request_id: str
    question: str
    decision: Decision
    attempts: tuple[Attempt, ...]
    answer: str | None
    media_t_s: float

    @property
    def answered(self) -> Attempt | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.status == "ok" else None

    @property
    def failed_over(self) -> bool:
        return self.answered is not None and self.answered.tier != self.decision.tier

    @property
    def reason(self) -> str:
        return "failover" if self.failed_over else self.decision.reason


def price(pricer: Pricer, attempt: Attempt) -> float:
    """An attempt's cost; a model with no known price costs 0 here (the docs say how to add one)."""
    usage = Usage(input_tokens=attempt.input_tokens, output_tokens=attempt.output_tokens)
    try:
        return pricer.cost_usd(provider=attempt.provider, model=attempt.model, usage=usage)
    except ConfigError:
        return 0.0


def turn_records(
    turn: Turn,
    *,
    run_id: str,
    tenant: str,
    room: str,
    requested_model: str,
    pricer: Pricer,
) -> list[object]:
    """The turn's calls, then its request row."""
    d = turn.decision
    costs = [price(pricer, a) for a in turn.attempts]
    rows: list[object] = [
        CallRecord(
            call_id=f"{turn.request_id}:llm:{i}",
            run_id=run_id,
            request_id=turn.request_id,
            tenant=tenant,
            stage="llm",
            provider=a.provider,
            model_requested=a.model,
            model_resolved=a.model if a.status == "ok" else None,
            media_t_s=turn.media_t_s,
            latency_ms=a.latency_ms,
            ttft_ms=a.ttft_ms,
            input_tokens=a.input_tokens,
            output_tokens=a.output_tokens,
            image_count=0,
            audio_s=0.0,
            compute_s=0.0,
            cost_usd=cost,
            attempts=1,
            status="ok" if a.status == "ok" else "error",
            error=a.error,
        )
        for i, (a, cost) in enumerate(zip(turn.attempts, costs, strict=True))
    ]
    answered = turn.answered
    latency_ms = sum(a.latency_ms for a in turn.attempts)
    cost_usd = sum(costs)
    status = "error" if answered is None else "fallback" if turn.failed_over else "ok"
    errors = [a.error for a in turn.attempts if a.error]
    rows.append(
        RequestRecord(
            request_id=turn.request_id,
            run_id=run_id,
            tenant=tenant,
            room=room,
            question_id=None,
            media_t_s=turn.media_t_s,
            asker=None,
            question=turn.question,
            needs_screen=d.vision,
            scorer=d.scorer,
            score=d.score,
            score_features_json=json.dumps(d.features, sort_keys=True),
            router=d.router,
            threshold=d.threshold,
            tier=d.tier,
            explored=d.explored,
            propensity=d.propensity,
            vision_model_requested=None,
            vision_model_resolved=None,
            llm_model_requested=requested_model,
            llm_model_resolved=None if answered is None else answered.model,
            input_tokens=sum(a.input_tokens for a in turn.attempts),
            output_tokens=sum(a.output_tokens for a in turn.attempts),
            routing_latency_ms=d.routing_latency_ms,
            vision_latency_ms=0.0,
            retrieval_latency_ms=0.0,
            llm_latency_ms=latency_ms,
            total_latency_ms=latency_ms + d.routing_latency_ms,
            vision_cost_usd=0.0,
            retrieval_cost_usd=0.0,
            llm_cost_usd=cost_usd,
            total_cost_usd=cost_usd,
            status=status,
            error="; ".join(errors) or None if answered is None else None,
            fallback_model=answered.model if answered is not None and turn.failed_over else None,
            answer=turn.answer,
            citations_json="[]",
            retrieval_json="[]",
            reference_answer=None,
            quality_f1=None,
            quality_key_facts=None,
            quality=None,
            vision_scorer=d.scorer if d.vision else None,
            vision_score=d.score if d.vision else None,
            vision_threshold=d.threshold if d.vision else None,
            vision_tier=d.tier if d.vision else None,
            vision_explored=d.explored if d.vision else None,
            vision_propensity=d.propensity if d.vision else None,
            route_reason=turn.reason,
            vision_route_reason=turn.reason if d.vision else None,
        )
    )
    return rows


class DecisionLog(Protocol):
    """Where a ``RoutedLLM`` sends each finished turn."""

    def log(self, turn: Turn, *, requested_model: str) -> None: ...

    def close(self) -> None: ...


class LedgerDecisionLog:
    """One run per agent process in a ledger: a path (``PathSink``: spools while the workbench
    holds the file), a held ``Ledger`` or a ``RunSink``. Writes go through one worker thread,
    never on the event loop; rows are flushed every ``flush_every`` turns and at ``close``."""

    def __init__(
        self,
        target: Ledger | RunSink | str | os.PathLike[str],
        *,
        tenant: str = "default",
        room: str = "agent",
        run_id: str | None = None,
        config_json: str = "{}",
        pricer: Pricer | None = None,
        flush_every: int = 20,
    ) -> None:
        from assistant.ledger.sink import open_sink

        self.sink = open_sink(target)
        self.tenant, self.room = tenant, room
        self.run_id = run_id or f"agent-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.pricer = pricer or Pricer()
        self.flush_every = flush_every
        self.turns = 0
        self._started = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routed-ledger")
        self._pending: list[Future[None]] = []
        run = RunRecord(
            run_id=self.run_id,
            source_kind=SOURCE_KIND,
            source_ref=room,
            dataset_name=None,
            tenant=tenant,
            room=room,
            config_json=config_json,
            config_hash="",
            media_duration_s=None,
        )
        self._submit(lambda: self.sink.start_run(run))
        self._closed = False

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def _submit(self, fn: object) -> None:
        self._pending = [f for f in self._pending if not f.done() or f.exception()]
        self._pending.append(self._pool.submit(fn))  # type: ignore[arg-type]

    def log(self, turn: Turn, *, requested_model: str) -> None:
        rows = turn_records(
            turn,
            run_id=self.run_id,
            tenant=self.tenant,
            room=self.room,
            requested_model=requested_model,
            pricer=self.pricer,
        )

        def append() -> None:
            for row in rows:
                self.sink.append(row)

        self._submit(append)
        self.turns += 1
        if self.turns % self.flush_every == 0:
            self._submit(self.sink.flush)

    def flush(self) -> None:
        """Write what is buffered now and wait for it (tests, checkpoints); raises what failed."""
        self._submit(self.sink.flush)
        self._wait()

    def _wait(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Finish the run (status finished, media = the process's seconds) and stop the thread."""
        if self._closed:
            return
        self._closed = True
        elapsed = self.elapsed_s()
        self._submit(
            lambda: self.sink.finish_run(self.run_id, status="finished", media_processed_s=elapsed)
        )
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
            self.sink.close()
