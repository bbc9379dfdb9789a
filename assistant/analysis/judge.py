"""An LLM judge: a premium model grades each answer of a run against its reference answer.

The offline quality score (``assistant.core.quality``: token F1 and key-fact recall) needs no key and is
what routing is tuned on; the judge is a second opinion that reads meaning, not tokens. It runs
after a replay (``python -m assistant judge --run RUN_ID``), through the same cloud adapters and
retry base as the answerers, with its own prompt, and writes one ``judgements`` row per graded
answer with the judge's own cost: never added to a request's or a run's cost.

The judge replies with JSON ``{"score": 0..1, "reason": "..."}``; a reply without a readable
score is recorded with status ``error`` and the reply's start, not guessed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.core.errors import LedgerError, ProviderError
from assistant.core.events import Passage
from assistant.ledger.queries.judge import answers_with_reference, judged_answers, tier_answers
from assistant.ledger.queries.runs import run_exists, run_source
from assistant.ledger.records import JudgementRecord
from assistant.ledger.store import Ledger
from assistant.pricing.prices import Pricer
from assistant.providers.base import ProviderCallError
from assistant.providers.llm.base import LLM, AnswerRequest

JUDGE_PROMPT = (
    "You grade answers given by a meeting assistant. You get the question, the reference answer "
    "written by a person who knows the right answer, the key facts a correct answer must contain, "
    "and the assistant's answer. Judge only whether the assistant's answer is correct and "
    "complete with respect to the reference: ignore style, length and citation markers like [1]. "
    "A correct answer that adds harmless detail is still correct; an answer that says it does "
    "not know scores 0. Reply with JSON only, on one line: "
    '{"score": <number from 0 to 1>, "reason": "<one short sentence>"}. '
    "Use 1 for fully correct, 0.5 for partly correct or missing a key fact, 0 for wrong."
)
_SCORE = re.compile(r'"?score"?\s*[:=]\s*"?(-?\d+(?:\.\d+)?)', re.I)


@dataclass(frozen=True, slots=True)
class Graded:
    request_id: str
    tier: str
    question: str
    reference: str
    key_facts: tuple[str, ...]
    answer: str | None
    offline_quality: float | None


def parse_verdict(text: str) -> tuple[float, str | None]:
    """``(score, reason)`` from the judge's reply; ValueError when it holds no score in [0, 1]."""
    body = text.strip()
    fenced = re.search(r"\{.*\}", body, re.S)
    if fenced:
        try:
            data = json.loads(fenced.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("score"), int | float | str):
            try:
                score = float(data["score"])
            except ValueError:
                score = math.nan
            reason = data.get("reason")
            if 0.0 <= score <= 1.0:
                return score, str(reason) if reason is not None else None
    found = _SCORE.search(body)
    if found and 0.0 <= float(found.group(1)) <= 1.0:
        return float(found.group(1)), None
    raise ValueError(f"no score in [0, 1] in the judge's reply: {body[:120]!r}")


def judge_request(item: Graded) -> AnswerRequest:
    """The judge's input, as the numbered context and question every adapter already sends."""
    facts = "; ".join(item.key_facts) if item.key_facts else "(none listed)"
    return AnswerRequest(
        question=(
            f"Meeting question: {item.question.strip()}\n"
            "Grade the assistant's answer [3] against the reference answer [1] and the key "
            "facts [2]. Reply with the JSON object only."
        ),
        knowledge=(
            Passage("reference", item.reference.strip()),
            Passage("key facts", facts),
            Passage("assistant's answer", (item.answer or "(no answer)").strip()),
        ),
    )


def answers_to_grade(ledger: Ledger, run_id: str, *, both_tiers: bool) -> list[Graded]:
    """The run's answers that have a reference: the routed tier's, or both tiers' outcomes."""
    if not run_exists(ledger, run_id):
        raise LedgerError(f"run {run_id} does not exist in {ledger.label}; see `runs`")
    rows = answers_with_reference(ledger, run_id)
    facts = _key_facts(ledger, run_id)
    graded = [
        Graded(r[0], r[1], r[2], r[3], facts.get(r[6] or "", ()), r[4], r[5]) for r in rows
    ]
    if not both_tiers:
        return graded
    outcomes = tier_answers(ledger, run_id)
    if not outcomes:
        raise LedgerError(
            f"run {run_id} has no tier outcomes: --both-tiers needs a `replay --both-tiers` run"
        )
    by_request = {g.request_id: g for g in graded}
    return [
        Graded(g.request_id, tier, g.question, g.reference, g.key_facts, answer, quality)
        for request_id, tier, answer, quality in sorted(outcomes)
        if (g := by_request.get(request_id)) is not None
    ]


def _key_facts(ledger: Ledger, run_id: str) -> dict[str, tuple[str, ...]]:
    """Key facts per question id, from the run's dataset (when it can still be read)."""
    source = run_source(ledger, run_id)
    if source is None or source[1] is None:
        return {}
    try:
        from assistant.sessions.datasets import load_dataset

        dataset = load_dataset(source[1])
    except Exception:  # the dataset moved: grade against the reference answer alone
        return {}
    return {q.id: tuple(q.key_facts) for q in dataset.questions}


def already_judged(ledger: Ledger, run_id: str, judge_model: str) -> set[tuple[str, str]]:
    return judged_answers(ledger, run_id, judge_model)


class Judge:
    """Grades answers with ``llm`` (its system prompt replaced by ``JUDGE_PROMPT``)."""

    def __init__(self, llm: LLM, *, pricer: Pricer | None = None) -> None:
        if not hasattr(llm, "system_prompt"):
            raise ProviderError(
                f"{llm.spec} cannot judge: the judge needs a cloud model (openai, anthropic, "
                "google or an OpenAI-compatible server)",
                provider=llm.provider,
                model=llm.model,
            )
        llm.system_prompt = JUDGE_PROMPT
        self.llm = llm
        self.pricer = pricer or Pricer()

    def grade(self, run_id: str, item: Graded) -> JudgementRecord:
        spec = self.llm.spec
        try:
            result = self.llm.answer(judge_request(item))
        except ProviderCallError as exc:
            failure = exc.failure
            return JudgementRecord(
                run_id=run_id, request_id=item.request_id, tier=item.tier, judge_model=spec,
                judge_model_resolved=None, score=None, reason=None, input_tokens=0,
                output_tokens=0, latency_ms=failure.latency_ms, cost_usd=0.0,
                attempts=failure.attempts, status="error", error=str(failure.error),
            )
        cost = self.pricer.cost_usd(
            provider=result.provider, model=result.model_resolved, usage=result.usage,
            local=result.local,
        )
        score: float | None
        reason: str | None
        error: str | None = None
        try:
            score, reason = parse_verdict(result.value.text)
        except ValueError as exc:
            score, reason, error = None, None, str(exc)
        return JudgementRecord(
            run_id=run_id, request_id=item.request_id, tier=item.tier, judge_model=spec,
            judge_model_resolved=result.model_resolved, score=score, reason=reason,
            input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens,
            latency_ms=result.latency_ms, cost_usd=cost, attempts=result.attempts,
            status="ok" if error is None else "error", error=error,
        )


@dataclass(frozen=True, slots=True)
class JudgeSummary:
    graded: int
    errors: int
    skipped: int  # judged before by the same model
    mean_judge_score: float | None
    mean_offline_quality: float | None
    agreement: float | None  # Pearson correlation of judge score and offline quality
    cost_usd: float


def judge_run(
    ledger: Ledger,
    run_id: str,
    judge: Judge,
    *,
    both_tiers: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> JudgeSummary:
    """Grade every answer of ``run_id`` not yet graded by this judge; write ``judgements``."""
    items = answers_to_grade(ledger, run_id, both_tiers=both_tiers)
    done = already_judged(ledger, run_id, judge.llm.spec)
    pending = [i for i in items if (i.request_id, i.tier) not in done]
    records: list[JudgementRecord] = []
    with ledger.writer(batch_rows=20) as writer:
        for n, item in enumerate(pending, start=1):
            record = judge.grade(run_id, item)
            writer.append(record)
            records.append(record)
            if progress is not None:
                progress(n, len(pending))
    pairs = [
        (r.score, i.offline_quality)
        for r, i in zip(records, pending, strict=True)
        if r.score is not None and i.offline_quality is not None
    ]
    scores = [r.score for r in records if r.score is not None]
    qualities = [i.offline_quality for i in pending if i.offline_quality is not None]
    return JudgeSummary(
        graded=len(scores),
        errors=sum(r.status != "ok" for r in records),
        skipped=len(items) - len(pending),
        mean_judge_score=sum(scores) / len(scores) if scores else None,
        mean_offline_quality=sum(qualities) / len(qualities) if qualities else None,
        agreement=_pearson(pairs),
        cost_usd=sum(r.cost_usd for r in records),
    )


def _pearson(pairs: list[tuple[float, float]]) -> float | None:
    if len(pairs) < 3:
        return None
    xs, ys = zip(*pairs, strict=True)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)

