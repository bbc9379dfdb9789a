"""What the orchestration produces: typed results of one request, not yet priced or recorded.

The ``Recorder`` (``assistant.pipeline.recorder``) subscribes to them and turns them into ledger
records; nothing here knows about prices or rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.core.events import Answer, KeptFrame, Passage, Question
from assistant.ledger.records import AnswerCacheRecord
from assistant.pipeline.tiers import StageRun
from assistant.providers.base import CallFailure, CallResult
from assistant.providers.llm.base import AnswerRequest
from assistant.routing import Route, Score


@dataclass(frozen=True, slots=True)
class Retrieved:
    """The knowledge passages found for a question, and how long the search took."""

    passages: list[Passage]
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Routed:
    """The question's score and the tier the router chose for it."""

    scorer: str
    score: Score
    router: str
    threshold: float | None
    route: Route
    latency_ms: float


@dataclass(slots=True)
class TierRun:
    """One tier's vision and answer stages for one request."""

    tier: str
    llm_spec: str  # the tier's answer model, named when no call was made
    vision: StageRun
    llm: StageRun
    result: CallResult[Any] | None
    cached: bool
    cache_record: AnswerCacheRecord | None = None  # a new answer for the answer cache
    # what a cloud adapter would have been sent (for the cost projection): the answer request,
    # and the size of the frame read when this tier made a vision call
    request: AnswerRequest | None = None
    frame_size: tuple[int, int] | None = None

    @property
    def answer(self) -> Answer | None:
        return self.result.value if self.result else None

    @property
    def status(self) -> str:
        if self.answer is None:
            return "error"  # no answer at all
        if self.llm.fallback_model or self.vision.fallback_model:
            return "fallback"  # answered, by another model than the one routed to
        if self.vision.errors or self.llm.errors:
            return "degraded"  # answered without a stage (e.g. no screen to read)
        return "ok"


@dataclass(frozen=True, slots=True)
class Answered:
    """One question, answered (or not): every step's result, in the order they ran."""

    request_id: str
    question: Question
    retrieved: Retrieved
    routed: Routed
    run: TierRun
    total_latency_ms: float
    other: TierRun | None = None  # the tier not routed to (``both_tiers``)


@dataclass(frozen=True, slots=True)
class FrameKept:
    frame: KeptFrame


@dataclass(frozen=True, slots=True)
class Transcribed:
    result: CallResult[Any]  # its value: the utterances
    media_t_s: float


@dataclass(frozen=True, slots=True)
class TranscriptionFailed:
    failure: CallFailure
    media_t_s: float


Result = FrameKept | Transcribed | TranscriptionFailed | Answered
