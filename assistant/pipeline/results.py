"""What the orchestration produces: typed results of one request, not yet priced or recorded.

The ``RequestRecorder`` (``assistant.pipeline.recorder``) subscribes to them and turns them into ledger
records; nothing here knows about prices or rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.core.events import Answer, KeptFrame, Passage, Question
from assistant.core.quality import ABSTAINED, declines
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
    compute_s: float | None = None  # CPU seconds of the search's thread (what it is priced by)


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision: the score it rests on, the threshold it was held to, the tier chosen
    (with its propensity) and why: ``reason`` is the router's rule (``threshold``, ``random``,
    ...), ``explored`` (a random tier) or ``budget`` (the tenant's budget was spent: cheap)."""

    scorer: str
    score: Score
    router: str
    threshold: float | None
    route: Route
    reason: str


@dataclass(frozen=True, slots=True)
class Routed:
    """The question's two decisions: the answer's (``llm``: the LLM tier) and, for a question
    that needs the screen, the vision decision (``vision``; None otherwise). Unless the config
    splits them, the vision decision is the LLM decision itself. ``latency_ms``: both made."""

    llm: Decision
    latency_ms: float
    vision: Decision | None = None

    @property
    def vision_tier(self) -> str | None:
        return None if self.vision is None else self.vision.route.tier


@dataclass(slots=True)
class TierRun:
    """One combination of tiers for one request: the screen read with ``vision_tier`` (None when
    the question does not need the screen) and the answer with ``tier`` (the LLM tier). Two runs
    of one request share the same ``vision`` stage when they read the screen with the same tier:
    the recorder records (and pays) its calls once."""

    tier: str
    llm_spec: str  # the tier's answer model, named when no call was made
    vision: StageRun
    llm: StageRun
    result: CallResult[Any] | None
    cached: bool
    cache_record: AnswerCacheRecord | None = None  # a new answer for the answer cache
    vision_tier: str | None = None
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
        if declines(self.answer.text):
            return ABSTAINED  # answered that it could not answer: its own outcome, not "ok"
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
    others: tuple[TierRun, ...] = ()  # the combinations not routed to (``both_tiers``)


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


@dataclass(frozen=True, slots=True)
class UnusedRead:
    """A screen reading made ahead of the questions (``[vision] prefetch``) that no question
    took: recorded as its own vision call, with no request, at the frame's media time."""

    outcome: CallResult[Any] | CallFailure
    media_t_s: float


Result = FrameKept | Transcribed | TranscriptionFailed | UnusedRead | Answered
