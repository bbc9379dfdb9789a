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
    # a digest of every decoded pixel, taken without converting (None: the RGB's is used)
    content_key: Callable[[], str] | None = field(default=None, kw_only=True)


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


@dataclass(frozen=True, slots=True, init=False)
class KeptFrame:
    """A frame the sampler kept. ``rgb`` is the array, or a function that converts the decoded
    frame: then it is converted once, the first time a reader (a screen reading) asks for it,
    and a kept frame that no question reads is never converted."""

    track: str
    t_s: float
    digest: str
    reason: str
    change_score: float
    width: int
    height: int
    _rgb: list[np.ndarray | Callable[[], np.ndarray]] = field(repr=False, compare=False)

    def __init__(
        self, track: str, t_s: float, rgb: np.ndarray | Callable[[], np.ndarray], *,
        digest: str, reason: str, change_score: float,
        width: int | None = None, height: int | None = None,
    ) -> None:
        if isinstance(rgb, np.ndarray):
            height, width = rgb.shape[:2]
        if width is None or height is None:
            raise ValueError("a kept frame converted on demand needs its width and height")
        for name, value in (
            ("track", track), ("t_s", t_s), ("digest", digest), ("reason", reason),
            ("change_score", change_score), ("width", int(width)), ("height", int(height)),
            ("_rgb", [rgb]),
        ):
            object.__setattr__(self, name, value)

    @property
    def rgb(self) -> np.ndarray:
        """The frame as H x W x 3 uint8, converted on first use (safe from several threads: at
        worst two convert it and one result is kept)."""
        held = self._rgb[0]
        if isinstance(held, np.ndarray):
            return held
        rgb = held()
        self._rgb[0] = rgb
        return rgb


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
    # the answerer's own estimate, in [0, 1], that the answer holds what was asked (None: it
    # gives none); the cascade (assistant.routing.cascade) escalates a cheap answer below a floor
    confidence: float | None = None


Event = VideoFrame | AudioChunk | Question
