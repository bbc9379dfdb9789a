"""The events a source yields and the values stages pass along: plain frozen dataclasses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# the two tiers every routed stage has
CHEAP = "cheap"
PREMIUM = "premium"


@dataclass(frozen=True, slots=True, eq=False)
class VideoFrame:
    """One decoded video frame. ``luma`` is the Y plane (H x W, uint8), read without conversion.

    ``to_rgb`` converts on demand: samplers judge frames on luminance and only the frames they keep
    are ever converted.
    """

    track: str
    t_s: float
    width: int
    height: int
    luma: np.ndarray
    to_rgb: Callable[[], np.ndarray]


@dataclass(frozen=True, slots=True, eq=False)
class AudioChunk:
    """Mono 16 kHz int16 samples of one participant starting at media time ``t_s``."""

    participant: str
    t_s: float
    samples: np.ndarray
    sample_rate: int = 16_000

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    t_s: float
    asker: str
    text: str
    needs_screen: bool
    reference: str | None = None
    key_facts: tuple[str, ...] = ()
    source: str | None = None
    difficulty: str | None = None
    proposed: bool = False  # found in a transcript by sessions/proposals.py, not authored


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start_s: float
    end_s: float
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Utterance:
    participant: str
    start_s: float
    end_s: float
    text: str
    confidence: float | None = None
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class KeptFrame:
    """A frame the sampler kept, converted to RGB once."""

    track: str
    t_s: float
    rgb: np.ndarray
    digest: str
    reason: str
    change_score: float


@dataclass(frozen=True, slots=True)
class Usage:
    """What one provider call consumed; ``pricing`` turns it into dollars."""

    input_tokens: int = 0
    output_tokens: int = 0
    image_count: int = 0
    audio_s: float = 0.0
    compute_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Passage:
    """A piece of context the answerer may quote, with where it came from."""

    source: str  # e.g. "screen", "transcript:alice@01:23", "kb:pricing.md#2"
    text: str
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    citations: tuple[Passage, ...] = field(default_factory=tuple)


Event = VideoFrame | AudioChunk | Question
