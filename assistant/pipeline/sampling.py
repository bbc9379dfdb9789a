"""Frame sampling: which screen-share frames are kept for analysis.

A policy sees every frame's luminance (the Y plane as decoded, never converted) through a strided
thumbnail at most 160 pixels wide (every 8th pixel up to 1280x720, every 12th at 1920x1080), and
answers keep or drop; only kept frames are converted to RGB, and only when something reads
them. Policies:

- ``fixed``: one frame every ``1/fps`` seconds (the seed's 1 FPS of 30).
- ``voice_activity``: ``speaking_fps`` while anyone speaks, ``silent_fps`` otherwise (LiveKit
  Agents' default: 1.0 and 0.3).
- ``change``: keep a frame when the screen content changed and has settled. A thumbnail pixel
  counts as changed when it moved more than ``pixel_delta`` grey levels; a change is a share of
  pixels above ``change_share`` against the last kept frame. The frame is kept once the screen has
  held still for ``settle_s`` (so a slide transition or a scroll is captured once, at rest), or
  after ``max_wait_s`` if it never settles. Small regions that keep moving on their own (a video in
  a corner, a blinking cursor) are masked while the rest of the screen is still. A keep-alive frame
  every ``keepalive_s``, and the current frame whenever a question arrives.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assistant.core.config import SamplingConfig
from assistant.core.errors import ConfigError
from assistant.core.events import KeptFrame, VideoFrame

THUMB_STEP = 8  # the finest step: 1280x720 -> 160x90 luminance thumbnail
THUMB_MAX_WIDTH = 160  # wider screens take a longer step: 1920x1080 -> every 12th pixel, 160x90
ACTIVITY_HALF_LIFE_S = 1.0  # how fast a pixel's record of recent motion fades
ANIMATED_LEVEL = 1.5  # a pixel that moved this often recently (decayed count) is animated


def thumb_step(width: int) -> int:
    """The thumbnail's step for a frame ``width`` pixels wide: 8, or more so that the thumbnail
    is at most ``THUMB_MAX_WIDTH`` wide. The thumbnail then covers the same share of the screen
    per pixel at any resolution (``change_share`` means the same thing), and the decision costs
    the same at 1080p as at 720p."""
    return max(THUMB_STEP, -(-width // THUMB_MAX_WIDTH))


def thumbnail(luma: np.ndarray) -> np.ndarray:
    """A strided view every ``thumb_step`` pixels: no copy, no colour conversion."""
    step = thumb_step(luma.shape[1])
    return luma[::step, ::step]


def change_score(a: np.ndarray | None, b: np.ndarray) -> float:
    """Mean absolute luminance difference of two thumbnails, in [0, 1]; 1.0 when there is no ``a``."""
    if a is None or a.shape != b.shape:
        return 1.0
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() / 255.0)


def digest(rgb: np.ndarray) -> str:
    """Content key of a kept frame (all its pixels): analysis is cached on it, so two screens that
    differ by one character never share a key. Computed only for kept frames, and only for those
    whose source has no key of its own (a decoded file's frames are keyed on their YUV planes,
    ``sessions.media.yuv_key``, so that a kept frame is never converted just to name it)."""
    return hashlib.blake2b(np.ascontiguousarray(rgb).tobytes(), digest_size=8).hexdigest()


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
        self._last_frame: VideoFrame | None = None
        self.decision_ns = 0  # time spent deciding (not converting), for the benchmark
        self.frames_seen = 0

    @abstractmethod
    def decide(self, frame: VideoFrame, thumb: np.ndarray) -> str | None:
        """The reason to keep ``frame`` (e.g. "interval"), or None to drop it."""

    def on_voice(self, t_s: float, speaking: bool) -> None:  # noqa: B027 - optional hook
        """Voice activity in the room changed or was re-confirmed at ``t_s``."""

    def on_question(self, t_s: float) -> KeptFrame | None:
        """A question arrived; policies that capture on questions keep the current frame."""
        return None

    def offer(self, frame: VideoFrame) -> KeptFrame | None:
        """Judge one frame; convert and keep it when the policy says so."""
        started = time.perf_counter_ns()
        thumb = thumbnail(frame.luma)
        reason = self.decide(frame, thumb)
        self.decision_ns += time.perf_counter_ns() - started
        self.frames_seen += 1
        self._last_frame = frame
        if reason is None:
            return None
        return self._keep(frame, thumb, reason)

    def _keep(self, frame: VideoFrame, thumb: np.ndarray, reason: str) -> KeptFrame:
        score = change_score(self._last_thumb, thumb)
        self._last_thumb = np.array(thumb)
        rgb: np.ndarray | Callable[[], np.ndarray] = frame.to_rgb  # converted when first read
        if frame.content_key is not None:
            key = frame.content_key()
        else:
            rgb = frame.to_rgb()
            key = digest(rgb)
        kept = KeptFrame(
            frame.track,
            frame.t_s,
            rgb,
            digest=key,
            reason=reason,
            change_score=round(score, 5),
            width=frame.width,
            height=frame.height,
        )
        self.kept.append(kept)
        return kept

    def latest(self) -> KeptFrame | None:
        return self.kept[-1] if self.kept else None


class RateGrid:
    """The rate samplers' one rule: the first frame, then the first frame at or after each step
    of a grid anchored on it. The decoder (``sessions.decoding``) runs the same rule ahead of the
    sampler to decode only the frames it will keep."""

    __slots__ = ("last_t_s",)

    def __init__(self) -> None:
        self.last_t_s: float | None = None

    def admit(self, t_s: float, period_s: float) -> str | None:
        """The reason a frame at ``t_s`` is kept ("first", "interval"), or None."""
        if self.last_t_s is None:
            self.last_t_s = t_s
            return "first"
        # keep the schedule on the grid of the first frame so 1 FPS of 30 keeps exactly one in 30
        if t_s + 1e-6 >= self.last_t_s + period_s:
            self.last_t_s += period_s * max(1, int((t_s + 1e-6 - self.last_t_s) / period_s))
            return "interval"
        return None


class _RateSampler(Sampler):
    """Keeps a frame whenever ``1 / rate`` seconds have passed since the last one."""

    def __init__(self, config: SamplingConfig) -> None:
        super().__init__(config)
        self._grid = RateGrid()

    @abstractmethod
    def fps(self) -> float:
        """The rate in force now."""

    def decide(self, frame: VideoFrame, thumb: np.ndarray) -> str | None:
        return self._grid.admit(frame.t_s, 1.0 / self.fps())


class FixedRateSampler(_RateSampler):
    name = "fixed"

    def fps(self) -> float:
        return self.config.fps


class VoiceActivitySampler(_RateSampler):
    name = "voice_activity"

    def __init__(self, config: SamplingConfig) -> None:
        super().__init__(config)
        self.speaking = False

    def on_voice(self, t_s: float, speaking: bool) -> None:
        self.speaking = speaking

    def fps(self) -> float:
        return self.config.speaking_fps if self.speaking else self.config.silent_fps


class ChangeSampler(Sampler):
    name = "change"

    def __init__(self, config: SamplingConfig) -> None:
        super().__init__(config)
        self._prev: np.ndarray | None = None  # previous thumbnail (int16)
        self._diff: np.ndarray | None = None  # scratch for |current - previous|, reused
        self._kept_thumb: np.ndarray | None = None  # thumbnail of the last kept frame (int16)
        self._activity: np.ndarray | None = None  # decaying count of recent changes per pixel
        self._kept_t_s = -1e9
        self._pending_since: float | None = None  # when a change against the kept frame began
        self._still_since = 0.0  # when the (unmasked) screen last stopped moving
        self._wait_s = config.max_wait_s  # doubles while the screen keeps moving
        self._activity_t_s = 0.0  # when the activity map was last aged
        self._motion_delta = max(4, config.pixel_delta // 3)  # motion that feeds the activity map
        self._mask: np.ndarray | None = None  # animated pixels, ignored while they animate
        self.last_change_share = 0.0  # against the last kept frame, unmasked pixels only

    def decide(self, frame: VideoFrame, thumb: np.ndarray) -> str | None:
        cfg = self.config
        cur = thumb.astype(np.int16)
        t = frame.t_s
        prev, diff = self._prev, self._diff
        if prev is None or diff is None or prev.shape != cur.shape or self._kept_thumb is None:
            self._prev, self._activity = cur, np.zeros(cur.shape, np.float32)
            self._kept_thumb, self._kept_t_s, self._still_since = cur, t, t
            self._diff = np.empty_like(cur)
            return "first"
        # the fast path allocates nothing but the thumbnail: |cur - prev| into a reused buffer
        np.subtract(cur, prev, out=diff)
        np.abs(diff, out=diff)
        self._prev = cur
        if diff.max() > self._motion_delta:  # the slow path runs only on frames where something
            # moved: any visible motion (even below pixel_delta) feeds the animation mask
            self._update(cur, diff > cfg.pixel_delta, diff > self._motion_delta, t)
        if t - self._still_since >= cfg.settle_s:
            self._wait_s = cfg.max_wait_s  # at rest: the next animation starts a fresh backoff
        if self.last_change_share > cfg.change_share:
            if self._pending_since is None:
                self._pending_since = t
            if t - self._still_since >= cfg.settle_s:
                self._wait_s = cfg.max_wait_s
                return self._mark(cur, t, "change")
            if t - self._pending_since >= self._wait_s:
                self._wait_s *= 2  # a long animation gets ever fewer frames until it rests
                return self._mark(cur, t, "change-unsettled")
        else:
            self._pending_since = None
        if t - self._kept_t_s >= cfg.keepalive_s:
            return self._mark(cur, t, "keepalive")
        return None

    def _update(self, cur: np.ndarray, moving: np.ndarray, stirring: np.ndarray, t: float) -> None:
        """Something moved: age the activity map, mask animated regions, re-measure the change."""
        cfg = self.config
        assert self._activity is not None and self._kept_thumb is not None
        self._activity *= 0.5 ** ((t - self._activity_t_s) / ACTIVITY_HALF_LIFE_S)
        self._activity_t_s = t
        self._activity += stirring
        animated = _dilate(self._activity > ANIMATED_LEVEL)  # edges of a video flicker too
        # localized, self-repeating motion (a corner video, a caret) is masked; motion over a
        # large area (a slide change, a scroll) is the content itself and never masked
        self._mask = animated if animated.mean() < cfg.animated_share else None
        if self._mask is not None:
            moving &= ~self._mask
        if moving.any():
            self._still_since = t
        self._measure(cur)

    def _measure(self, cur: np.ndarray) -> None:
        assert self._kept_thumb is not None
        changed = np.abs(cur - self._kept_thumb) > self.config.pixel_delta
        if self._mask is not None:
            changed &= ~self._mask
        self.last_change_share = float(changed.mean())

    def _mark(self, cur: np.ndarray, t: float, reason: str) -> str:
        self._kept_thumb, self._kept_t_s, self._pending_since = cur, t, None
        self.last_change_share = 0.0
        return reason

    def on_question(self, t_s: float) -> KeptFrame | None:
        """Keep the frame on screen now, unless it is the frame already kept."""
        frame = self._last_frame
        latest = self.latest()
        if frame is None or (latest is not None and latest.t_s == frame.t_s):
            return None
        if self.last_change_share == 0.0:  # the screen is exactly what was kept last
            return None
        thumb = thumbnail(frame.luma)
        self._mark(thumb.astype(np.int16), frame.t_s, "question")
        return self._keep(frame, thumb, "question")


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Grow a boolean mask by one pixel in each direction."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


SAMPLERS: dict[str, type[Sampler]] = {
    s.name: s for s in (FixedRateSampler, VoiceActivitySampler, ChangeSampler)
}


def decode_period_s(config: SamplingConfig) -> float | None:
    """The period of the only frames ``config``'s policy can keep, when that is known before
    decoding (``fixed``: one frame every ``1 / fps`` seconds on the grid of the first), so the
    decoder may skip the rest; None when the policy must see every frame."""
    if config.policy == FixedRateSampler.name and config.fps > 0:
        return 1.0 / config.fps
    return None


def make_sampler(config: SamplingConfig) -> Sampler:
    try:
        return SAMPLERS[config.policy](config)
    except KeyError:
        raise ConfigError(
            f"unknown sampling policy {config.policy!r}; available: {', '.join(sorted(SAMPLERS))}"
        ) from None
