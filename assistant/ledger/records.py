"""Ledger records: what the pipeline emits and the ledger stores, one dataclass per table.

Field names are column names (units in the names: ``_s`` seconds, ``_ms`` milliseconds, ``_usd``
dollars, ``_at`` UTC timestamps). The ledger's migrations create exactly these columns; a test checks
that the two agree, so a field added here needs a migration too.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def this_worker() -> str:
    """Who runs a run: ``$WORKBENCH_WORKER`` (e.g. a LiveKit worker id), else host:pid."""
    return os.environ.get("WORKBENCH_WORKER") or f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    source_kind: str  # "recorded", "paced", "livekit"
    source_ref: str  # dataset path or room name
    dataset_name: str | None
    tenant: str
    room: str
    config_json: str
    config_hash: str
    media_duration_s: float | None
    started_at: datetime = field(default_factory=utc_now)
    ended_at: datetime | None = None
    status: str = "running"  # running / finished / failed / interrupted
    error: str | None = None
    media_processed_s: float | None = None  # how far the run got (set at checkpoints and the end)
    events_done: int | None = None  # source events whose rows are all committed (for --resume)
    worker: str | None = field(default_factory=this_worker)  # host:pid that runs it
    heartbeat_at: datetime | None = None  # its last checkpoint (None: none yet)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    run_id: str
    tenant: str
    room: str
    question_id: str | None
    media_t_s: float
    asker: str | None
    question: str
    needs_screen: bool
    scorer: str
    score: float
    score_features_json: str  # {"feature": contribution, ...}
    router: str
    threshold: float | None
    tier: str  # "cheap" / "premium"
    explored: bool
    propensity: float  # probability with which this tier was chosen
    vision_model_requested: str | None
    vision_model_resolved: str | None
    llm_model_requested: str
    llm_model_resolved: str | None
    input_tokens: int
    output_tokens: int
    routing_latency_ms: float
    vision_latency_ms: float
    retrieval_latency_ms: float
    llm_latency_ms: float
    total_latency_ms: float
    vision_cost_usd: float
    retrieval_cost_usd: float
    llm_cost_usd: float
    total_cost_usd: float
    status: str  # ok / fallback (another model answered) / degraded (a stage missing) / error
    error: str | None
    fallback_model: str | None
    answer: str | None
    citations_json: str  # [{"ref": "S1", "source": "kb:pricing.md#2"}, ...]
    retrieval_json: str  # [{"chunk_id": ..., "score": ...}, ...]
    reference_answer: str | None
    quality_f1: float | None
    quality_key_facts: float | None  # share of the reference's key facts found in the answer
    quality: float | None  # the headline quality score in [0, 1]
    created_at: datetime = field(default_factory=utc_now)
    # the vision decision (migration 9), for questions that need the screen (NULL otherwise, and
    # on rows written before it, where the one decision above decided the screen too)
    vision_scorer: str | None = None
    vision_score: float | None = None
    vision_threshold: float | None = None
    vision_tier: str | None = None
    vision_explored: bool | None = None
    vision_propensity: float | None = None
    # why each decision went as it did: the router's rule ("threshold", "random", ...),
    # "explored" (a random tier) or "budget" (the tenant's budget per media hour was spent)
    route_reason: str | None = None
    vision_route_reason: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_id: str
    run_id: str
    request_id: str | None  # None for calls not tied to a question (transcription)
    tenant: str
    stage: str  # stt / vision / llm / retrieval / embedding
    provider: str
    model_requested: str
    model_resolved: str | None
    media_t_s: float
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    image_count: int
    audio_s: float  # billed audio seconds (STT)
    compute_s: float  # measured local compute seconds (local providers)
    cost_usd: float
    attempts: int
    status: str  # ok / error
    error: str | None
    created_at: datetime = field(default_factory=utc_now)
    # the call cache (migration 12): a cached call made no call and paid nothing (``cost_usd``
    # 0, ``latency_ms`` the lookup's; usage columns are the original's); the original call's
    # latency and its cost at today's prices are kept apart. NULL: not cached (older rows too)
    cached: bool | None = None
    original_latency_ms: float | None = None
    original_cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class CallCacheRecord:
    """One provider result kept by the call cache (``assistant.providers.cache``): its content
    key, the value as its stage's JSON, its usage, and what the original call took and cost.
    Rows are never updated; a key stored twice (two runs that missed together) is read once."""

    key: str
    spec: str  # provider:model
    stage: str  # stt / vision / llm
    model_resolved: str
    value_json: str
    input_tokens: int
    output_tokens: int
    image_count: int
    audio_s: float
    compute_s: float
    latency_ms: float
    cost_usd: float  # what the original call was priced at
    run_id: str | None  # the run that made the call, and its row
    call_id: str | None
    created_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class FrameRecord:
    run_id: str
    track: str
    media_t_s: float
    reason: str  # why the sampler kept it: interval / change / keepalive / question / first
    change_score: float
    width: int
    height: int
    frame_hash: str


@dataclass(frozen=True, slots=True)
class UtteranceRecord:
    run_id: str
    participant: str
    start_s: float
    end_s: float
    text: str
    provider: str
    model: str
    confidence: float | None
    words_json: str | None = None  # word timings, when the provider gives them


@dataclass(frozen=True, slots=True)
class TierOutcomeRecord:
    """What one combination of tiers did (or would have done) for one request, from a
    ``--both-tiers`` replay: two per request (cheap, premium), four when it needs the screen
    (vision cheap/premium x answer cheap/premium, migration 9). ``tier`` is the tier for the two
    where vision and answer agree, a label like ``premium-vision/cheap-llm`` for the others;
    ``vision_tier`` (NULL without a screen, and before migration 9) and ``llm_tier`` say which.

    Latency and cost cover retrieval, routing, vision and the answer for that combination.
    """

    run_id: str
    request_id: str
    tier: str  # "cheap" / "premium"
    vision_model: str | None
    llm_model: str
    latency_ms: float
    cost_usd: float
    answer: str | None
    quality: float | None
    quality_f1: float | None
    quality_key_facts: float | None
    status: str  # ok / fallback / degraded / error, as for requests
    cached: bool  # the answer came from the answer cache: no call, no cost
    vision_tier: str | None = None
    llm_tier: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerCacheRecord:
    """One cached answer, keyed by the content hash of (provider spec, question, passages)."""

    key: str
    spec: str
    answer_json: str  # {"text": ..., "citations": [{"source": ..., "text": ..., "score": ...}]}
    input_tokens: int
    output_tokens: int
    created_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class JudgementRecord:
    """A premium model's grade of one answer against the reference (``python -m assistant judge``).

    Its cost is the judge's own, kept here and never added to the request's or the run's cost.
    """

    run_id: str
    request_id: str
    tier: str  # the tier whose answer was graded: the routed one, or either from tier_outcomes
    judge_model: str  # provider:model requested
    judge_model_resolved: str | None
    score: float | None  # in [0, 1]
    reason: str | None
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cost_usd: float
    attempts: int
    status: str  # ok / error
    error: str | None
    created_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class RequestInputRecord:
    """What one tier's cloud adapters would have been sent for one request: the answerer's
    system prompt and user message (the shared prompt builder's), the vision prompt and the
    frame's size as sent (when a vision call was made), the screen text and the answer the
    offline tier produced (output-length proxies). The projection is computed from these."""

    run_id: str
    request_id: str
    tier: str
    routed: bool  # the tier the router chose (False: the other tier of a --both-tiers run)
    system_prompt: str | None  # None: no answer call was made
    user_message: str | None
    answer: str | None
    vision_prompt: str | None  # None: no vision call (no screen needed, or the frame read before)
    frame_width: int | None
    frame_height: int | None
    screen_text: str | None
    vision_tier: str | None = None  # the tier that read the screen (two decisions: may differ)
    # the screen text's structured reading with positions (``ScreenReading.to_json``): OCR's
    # readings; None for text without positions (a cloud model's) or no vision call
    screen_layout_json: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectionRecord:
    """One call's projected cost under a named price scenario: never a measured cost.

    Keyed by run, request (None: a transcription call), scenario, stage and tier."""

    run_id: str
    request_id: str | None
    scenario: str
    stage: str  # stt / vision / llm
    tier: str | None  # None for transcription
    routed: bool  # counted in the run's projected cost (transcription, and the routed tier)
    media_t_s: float
    model: str  # provider:model of the scenario
    token_method: str  # "tiktoken:o200k_base" (exact), "estimate:chars/4", "audio:per-minute"
    output_method: str  # "measured" (the offline tier's text length) or "typical"
    input_tokens: int  # text and image tokens
    image_tokens: int
    output_tokens: int
    audio_s: float
    cost_usd: float
    created_at: datetime = field(default_factory=utc_now)


TABLES: dict[str, type] = {
    "runs": RunRecord,
    "requests": RequestRecord,
    "calls": CallRecord,
    "frames": FrameRecord,
    "utterances": UtteranceRecord,
    "tier_outcomes": TierOutcomeRecord,
    "answer_cache": AnswerCacheRecord,
    "judgements": JudgementRecord,
    "request_inputs": RequestInputRecord,
    "projections": ProjectionRecord,
    "call_cache": CallCacheRecord,
}
