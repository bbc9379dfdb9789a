"""Synthetic ``--both-tiers`` runs with two decisions, written through the real ledger writer, and
brute-force replays of the routing rule over them (what the grid sweep and budget must equal)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.ledger import Ledger
from assistant.ledger.records import CallRecord, RequestRecord, RunRecord, TierOutcomeRecord
from assistant.pipeline.tiers import outcome_tier

TIERS = ("cheap", "premium")


@dataclass(frozen=True)
class Outcome:
    cost_usd: float
    quality: float | None
    latency_ms: float


@dataclass(frozen=True)
class Req:
    request_id: str
    score: float
    vision_score: float | None  # None: does not need the screen
    outcomes: dict[tuple[str | None, str], Outcome]  # (vision tier or None, llm tier)


def write_both_tier_run(
    ledger: Ledger,
    run_id: str = "grid",
    *,
    n: int = 40,
    seed: int = 0,
    duration_s: float = 600.0,
    stt_cost_usd: float = 1e-4,
    tenant: str = "acme",
    linked: bool = False,
) -> list[Req]:
    """A finished run of ``n`` requests (about half need the screen), with every combination's
    outcome, random but premium dearer and mostly better; some qualities unknown. Scores are
    on a 0.05 grid half the time, so ties with thresholds are exercised. ``linked``: one
    decision (the vision score is the answer's score)."""
    rng = random.Random(seed)
    ledger.start_run(
        RunRecord(
            run_id=run_id,
            source_kind="recorded",
            source_ref="synthetic",
            dataset_name="synthetic",
            tenant=tenant,
            room="r",
            config_json='{"routing": {"threshold": 0.5, "vision_threshold": 0.4}}',
            config_hash="x",
            media_duration_s=duration_s,
            status="finished",
        )
    )
    reqs: list[Req] = []

    def score() -> float:
        return round(rng.randrange(21) / 20, 2) if rng.random() < 0.5 else rng.random()

    with ledger.writer() as writer:
        writer.append(_call(run_id, "stt", None, stt_cost_usd, tenant))
        for i in range(n):
            rid = f"{run_id}:q{i}"
            s = score()
            vs = score() if rng.random() < 0.5 else None
            vs = s if linked and vs is not None else vs
            outcomes: dict[tuple[str | None, str], Outcome] = {}
            visions: tuple[str | None, ...] = TIERS if vs is not None else (None,)
            for v in visions:
                for t in TIERS:
                    cost = rng.uniform(1e-5, 3e-5) * (4 if t == "premium" else 1)
                    cost += rng.uniform(2e-5, 4e-5) * (5 if v == "premium" else 1) if v else 0
                    q = (
                        None
                        if rng.random() < 0.1
                        else min(
                            1.0,
                            rng.random() * 0.6 + 0.3 * (t == "premium") + 0.2 * (v == "premium"),
                        )
                    )
                    outcomes[(v, t)] = Outcome(cost, q, rng.uniform(50, 3000))
            reqs.append(Req(rid, s, vs, outcomes))
            routed_v = None if vs is None else ("premium" if vs >= 0.4 else "cheap")
            routed_t = "premium" if s >= 0.5 else "cheap"
            o = outcomes[(routed_v, routed_t)]
            writer.append(_request(run_id, rid, i, s, vs, routed_v, routed_t, o, tenant))
            for (v, t), out in outcomes.items():
                writer.append(
                    TierOutcomeRecord(
                        run_id=run_id,
                        request_id=rid,
                        tier=outcome_tier(v, t),
                        vision_model=None if v is None else f"ocr:{v}",
                        llm_model=f"local:{t}",
                        latency_ms=out.latency_ms,
                        cost_usd=out.cost_usd,
                        answer="a",
                        quality=out.quality,
                        quality_f1=out.quality,
                        quality_key_facts=out.quality,
                        status="ok",
                        cached=False,
                        vision_tier=v,
                        llm_tier=t,
                    )
                )
    return reqs


def _call(run_id: str, stage: str, request_id: str | None, cost: float, tenant: str) -> CallRecord:
    return CallRecord(
        call_id=f"{run_id}:stt",
        run_id=run_id,
        request_id=request_id,
        tenant=tenant,
        stage=stage,
        provider="recorded",
        model_requested="",
        model_resolved="",
        media_t_s=0.0,
        latency_ms=1.0,
        ttft_ms=None,
        input_tokens=0,
        output_tokens=0,
        image_count=0,
        audio_s=1.0,
        compute_s=0.0,
        cost_usd=cost,
        attempts=1,
        status="ok",
        error=None,
    )


def _request(
    run_id: str,
    rid: str,
    i: int,
    score: float,
    vision_score: float | None,
    vision_tier: str | None,
    tier: str,
    o: Outcome,
    tenant: str,
) -> RequestRecord:
    return RequestRecord(
        request_id=rid,
        run_id=run_id,
        tenant=tenant,
        room="r",
        question_id=f"q{i}",
        media_t_s=float(i),
        asker="a",
        question="q?",
        needs_screen=vision_score is not None,
        scorer="heuristic",
        score=score,
        score_features_json="{}",
        router="threshold",
        threshold=0.5,
        tier=tier,
        explored=False,
        propensity=1.0,
        vision_model_requested=None,
        vision_model_resolved=None,
        llm_model_requested=f"local:{tier}",
        llm_model_resolved=f"local:{tier}",
        input_tokens=0,
        output_tokens=0,
        routing_latency_ms=0.0,
        vision_latency_ms=0.0,
        retrieval_latency_ms=0.0,
        llm_latency_ms=0.0,
        total_latency_ms=o.latency_ms,
        vision_cost_usd=0.0,
        retrieval_cost_usd=0.0,
        llm_cost_usd=o.cost_usd,
        total_cost_usd=o.cost_usd,
        status="ok",
        error=None,
        fallback_model=None,
        answer="a",
        citations_json="[]",
        retrieval_json="[]",
        reference_answer="a",
        quality_f1=o.quality,
        quality_key_facts=o.quality,
        quality=o.quality,
        vision_scorer=None if vision_score is None else "heuristic",
        vision_score=vision_score,
        vision_threshold=None if vision_score is None else 0.4,
        vision_tier=vision_tier,
        vision_explored=None if vision_score is None else False,
        vision_propensity=None if vision_score is None else 1.0,
        route_reason="threshold",
        vision_route_reason=None if vision_score is None else "threshold",
    )


def brute_force(
    reqs: list[Req], tv: float, tl: float, *, stt_cost_usd: float, duration_s: float
) -> dict[str, Any]:
    """Replay the rule on every request, one by one: premium answer when score >= tl, premium
    reading (screen questions) when vision score >= tv; that combination's recorded outcome."""
    cost = stt_cost_usd
    qualities, latencies = [], []
    for r in reqs:
        t = "premium" if r.score >= tl else "cheap"
        v = None if r.vision_score is None else ("premium" if r.vision_score >= tv else "cheap")
        o = r.outcomes[(v, t)]
        cost += o.cost_usd
        latencies.append(o.latency_ms)
        if o.quality is not None:
            qualities.append(o.quality)
    return {
        "total_cost_usd": cost,
        "cost_per_media_hour_usd": cost / duration_s * 3600,
        "mean_quality": sum(qualities) / len(qualities) if qualities else None,
        "labelled": len(qualities),
        "p95_latency_ms": float(np.percentile(latencies, 95)),
    }
