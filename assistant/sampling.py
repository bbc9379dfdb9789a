"""Frame sampling: which screen-share frames are kept for analysis.

A policy sees every frame's luminance (the Y plane, never converted) and answers keep or drop. Only
kept frames are converted to RGB. ``fixed`` keeps one frame every ``1/fps`` seconds; later policies
(voice activity, content change) implement the same ``decide`` hook.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

import numpy as np

from assistant.config import SamplingConfig
from assistant.errors import ConfigError
from assistant.types import KeptFrame, VideoFrame

THUMB_STEP = 8  # 1280x720 -> 160x90 luminance thumbnail


def thumbnail(luma: np.ndarray) -> np.ndarray:
    """A strided view every ``THUMB_STEP`` pixels: no copy, no colour conversion."""
    return luma[::THUMB_STEP, ::THUMB_STEP]


def change_score(a: np.ndarray | None, b: np.ndarray) -> float:
    """Mean absolute luminance difference of two thumbnails, in [0, 1]; 1.0 when there is no ``a``."""
    if a is None or a.shape != b.shape:
        return 1.0
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() / 255.0)


def digest(thumb: np.ndarray) -> str:
    """Content key of a screen: equal screens give equal digests (used to cache analysis)."""
    return hashlib.blake2b(np.ascontiguousarray(thumb >> 3).tobytes(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Decision:
    reason: str
    change_score: float


class Sampler(ABC):
    name = "sampler"

    def __init__(self, config: SamplingConfig) -> None:
        self.config = config
        self.kept: deque[KeptFrame] = deque(maxlen=config.keep_last)
        self._last_thumb: np.ndarray | None = None

    @abstractmethod
    def decide(self, frame: VideoFrame, thumb: np.ndarray) -> str | None:
        """The reason to keep ``frame`` (e.g. "interval"), or None to drop it."""

    def offer(self, frame: VideoFrame) -> KeptFrame | None:
        """Judge one frame; convert and keep it when the policy says so."""
        thumb = thumbnail(frame.luma)
        reason = self.decide(frame, thumb)
        if reason is None:
            return None
        score = change_score(self._last_thumb, thumb)
        self._last_thumb = np.array(thumb)
        kept = KeptFrame(
            track=frame.track,
            t_s=frame.t_s,
            rgb=frame.to_rgb(),
            digest=digest(thumb),
            reason=reason,
            change_score=round(score, 5),
        )
        self.kept.append(kept)
        return kept

    def latest(self) -> KeptFrame | None:
        return self.kept[-1] if self.kept else None


class FixedRateSampler(Sampler):
    name = "fixed"

    def __init__(self, config: SamplingConfig) -> None:
        super().__init__(config)
        self._next_t_s: float | None = None

    def decide(self, frame: VideoFrame, thumb: np.ndarray) -> str | None:
        if self._next_t_s is None:
            self._next_t_s = frame.t_s + 1.0 / self.config.fps
            return "first"
        if frame.t_s + 1e-6 >= self._next_t_s:
            while self._next_t_s <= frame.t_s + 1e-6:
                self._next_t_s += 1.0 / self.config.fps
            return "interval"
        return None


SAMPLERS: dict[str, type[Sampler]] = {"fixed": FixedRateSampler}


def make_sampler(config: SamplingConfig) -> Sampler:
    try:
        return SAMPLERS[config.policy](config)
    except KeyError:
        raise ConfigError(
            f"unknown sampling policy {config.policy!r}; available: {', '.join(sorted(SAMPLERS))}"
        ) from None
