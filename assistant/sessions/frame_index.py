"""The sampler's output per recording, kept in the call cache: a second replay decodes no frame.

A replay's sampler pass is a function of the screen recording, the sampling configuration and our
code (for ``change``, of the questions' times too: it keeps the frame on screen when a question
arrives). Its output, the frames it kept (time, pixel digest, size, reason, change score) and the
times of every frame the source offered it, is stored after a complete pass as one row of the
ledger's ``call_cache`` (stage ``sampler``, spec ``sampler:<policy>``), keyed by:

- the SHA-256 of the video file's bytes: a content address that no other file shares (a size plus
  the demuxed packets would miss a change in the container's metadata, e.g. the time base, that
  moves every frame's time; hashing the file costs about 2 ms per MB);
- where the recording stops (an interrupted recording is replayed up to its last second);
- every field of ``[sampling]`` (policy, rates, thresholds) and, for ``change``, the questions'
  times;
- a fingerprint of the code that decides (``pipeline/sampling.py``, ``sessions/decoding.py``,
  ``sessions/media.py``, the merge in ``sessions/sources/recorded.py``, this module) and of the
  decoder's version (PyAV and FFmpeg: another decoder may give other pixels).

A later replay that finds the key yields the same frames at the same times without decoding any
(``indexed_frames``): the ``ReplayedSampler`` hands out the stored kept frames, whose pixels are
decoded only when a reader asks for them (a screen reading that the call cache does not answer):
then the file is opened, sought to the key frame before that time and decoded up to that one
frame, whose digest must be the stored one. ``voice_activity`` is not indexed: what it keeps
depends on who speaks (the audio and the voice gate), not on the video alone.

Only a complete pass is stored: the run stores the index once its events are all handled
(an interrupted or failed run stores none; a resumed run re-offers the frames before its
checkpoint to the sampler, so its index is complete too). ``--no-cache`` (``[calls] cache =
false``) neither looks it up nor stores it; ``ledger cache --clear`` deletes it with the rest.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.config import Config, SamplingConfig
from assistant.core.errors import DatasetError
from assistant.core.events import KeptFrame, VideoFrame
from assistant.ledger.queries.cache import call_cache_rows
from assistant.ledger.records import CallCacheRecord
from assistant.ledger.sink import RunSink
from assistant.pipeline.sampling import Sampler
from assistant.pipeline.stages import Stages
from assistant.providers.cache import content_key, files_fingerprint
from assistant.sessions.datasets import Dataset

STAGE = "sampler"
FORMAT = 1  # of the stored JSON
INDEXED_POLICIES = frozenset({"fixed", "change"})  # their output is the video's (and questions')
_CODE = (  # what decides which frames are kept, with which digest, at which time
    "pipeline/sampling.py",
    "sessions/decoding.py",
    "sessions/media.py",
    "sessions/sources/recorded.py",
    "sessions/frame_index.py",
)
_NO_PIXELS = np.zeros((0, 0), np.uint8)  # an indexed frame's luminance: nobody judges it again
_NO_PIXELS.flags.writeable = False


def video_address(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _decoder_version() -> str:
    import av

    return json.dumps([av.__version__, av.library_versions], sort_keys=True, default=str)


def index_key(
    *, video: Path, sampling: SamplingConfig, stop_s: float | None, question_times_s: list[float]
) -> str | None:
    """The content key of a sampler pass over ``video`` (None: the policy is not indexed)."""
    if sampling.policy not in INDEXED_POLICIES:
        return None
    scope = json.dumps(
        [f"{STAGE}:{sampling.policy}", asdict(sampling), files_fingerprint(_CODE),
         _decoder_version()],
        sort_keys=True,
    )
    questions = question_times_s if sampling.policy == "change" else []
    return content_key(
        scope, STAGE, (video_address(video), repr(stop_s), json.dumps(questions))
    )


@dataclass(frozen=True, slots=True)
class IndexedFrame:
    """A kept frame as stored: everything of a ``KeptFrame`` but its pixels."""

    t_s: float
    digest: str
    width: int
    height: int
    reason: str
    change_score: float

    @classmethod
    def of(cls, kept: KeptFrame) -> IndexedFrame:
        return cls(kept.t_s, kept.digest, kept.width, kept.height, kept.reason, kept.change_score)


@dataclass(frozen=True, slots=True)
class FrameIndex:
    """One sampler pass: the times of the frames offered, in order; the frames ``offer`` kept
    (by the offered frame's position) and those ``on_question`` kept (by the question's
    position: the frame offered last before it)."""

    offered_t_s: tuple[float, ...]
    kept: dict[int, IndexedFrame] = field(default_factory=dict)
    asked: dict[int, tuple[int, IndexedFrame]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT,
            "offered_t_s": list(self.offered_t_s),
            "kept": [[i, *_fields(f)] for i, f in sorted(self.kept.items())],
            "asked": [[q, i, *_fields(f)] for q, (i, f) in sorted(self.asked.items())],
        })

    @classmethod
    def from_json(cls, text: str) -> FrameIndex | None:
        """The index, or None when it was written in another format."""
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                return None
            return cls(
                tuple(float(t) for t in data["offered_t_s"]),
                {int(row[0]): IndexedFrame(*row[1:]) for row in data["kept"]},
                {int(row[0]): (int(row[1]), IndexedFrame(*row[2:])) for row in data["asked"]},
            )
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None

    def frame_at(self, position: int) -> IndexedFrame | None:
        """What is stored of the ``position``-th offered frame (kept by ``offer`` or by a
        question), if anything."""
        found = self.kept.get(position)
        if found is not None:
            return found
        return next((f for i, f in self.asked.values() if i == position), None)


def _fields(frame: IndexedFrame) -> list[Any]:
    return [frame.t_s, frame.digest, frame.width, frame.height, frame.reason, frame.change_score]


class IndexingSampler(Sampler):
    """The run's sampler, unchanged, with what it keeps written down (``index``)."""

    def __init__(self, inner: Sampler) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.name = inner.name
        self.kept = inner.kept
        self._offered: list[float] = []
        self._kept: dict[int, IndexedFrame] = {}
        self._asked: dict[int, tuple[int, IndexedFrame]] = {}
        self._questions = 0
        self._started = time.perf_counter()

    def decide(self, frame: VideoFrame, thumb: np.ndarray) -> str | None:
        return self.inner.decide(frame, thumb)

    def offer(self, frame: VideoFrame) -> KeptFrame | None:
        kept = self.inner.offer(frame)
        self._offered.append(frame.t_s)
        self.frames_seen, self.decision_ns = self.inner.frames_seen, self.inner.decision_ns
        if kept is not None:
            self._kept[len(self._offered) - 1] = IndexedFrame.of(kept)
        return kept

    def on_voice(self, t_s: float, speaking: bool) -> None:
        self.inner.on_voice(t_s, speaking)

    def on_question(self, t_s: float) -> KeptFrame | None:
        kept = self.inner.on_question(t_s)
        if kept is not None:
            self._asked[self._questions] = (len(self._offered) - 1, IndexedFrame.of(kept))
        self._questions += 1
        return kept

    def latest(self) -> KeptFrame | None:
        return self.inner.latest()

    def index(self) -> FrameIndex:
        return FrameIndex(tuple(self._offered), dict(self._kept), dict(self._asked))

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000


class ReplayedSampler(Sampler):
    """What a stored pass kept, handed out again in the same order: the ``offer`` of the n-th
    frame and the ``on_question`` of the n-th question return what they returned then, with the
    source's frame (its pixels decoded only if read)."""

    def __init__(self, config: SamplingConfig, index: FrameIndex) -> None:
        super().__init__(config)
        self.name = config.policy
        self._index = index
        self._questions = 0

    def decide(self, frame: VideoFrame, thumb: np.ndarray) -> str | None:
        return None  # never asked: ``offer`` answers from the index

    def offer(self, frame: VideoFrame) -> KeptFrame | None:
        position = self.frames_seen
        self.frames_seen += 1
        self._last_frame = frame
        stored = self._index.kept.get(position)
        if stored is None:
            return None
        return self._remember(frame, stored)

    def on_question(self, t_s: float) -> KeptFrame | None:
        stored = self._index.asked.get(self._questions)
        self._questions += 1
        if stored is None or self._last_frame is None:
            return None
        return self._remember(self._last_frame, stored[1])

    def _remember(self, frame: VideoFrame, stored: IndexedFrame) -> KeptFrame:
        if frame.t_s != stored.t_s:
            raise RuntimeError(
                f"the frame index does not match the source: a frame at {frame.t_s} s, "
                f"indexed at {stored.t_s} s"
            )
        kept = KeptFrame(
            frame.track, stored.t_s, frame.to_rgb, digest=stored.digest, reason=stored.reason,
            change_score=stored.change_score, width=stored.width, height=stored.height,
        )
        self.kept.append(kept)
        return kept


def indexed_frames(path: Path, index: FrameIndex, *, track: str) -> Iterator[VideoFrame]:
    """The frames a stored pass was offered, at their times, decoding none: a stored frame's
    pixels are decoded on first read (``decode_frame_at``)."""
    for position, t_s in enumerate(index.offered_t_s):
        stored = index.frame_at(position)
        digest = stored.digest if stored is not None else None
        yield VideoFrame(
            track=track,
            t_s=t_s,
            width=stored.width if stored is not None else 0,
            height=stored.height if stored is not None else 0,
            luma=_NO_PIXELS,
            to_rgb=_lazy_rgb(path, t_s, digest),
            content_key=None if digest is None else _constant(digest),
        )


def _constant(value: str) -> Callable[[], str]:
    return lambda: value


def _lazy_rgb(path: Path, t_s: float, digest: str | None) -> Callable[[], np.ndarray]:
    return lambda: decode_frame_at(path, t_s, digest=digest)


def decode_frame_at(path: Path, t_s: float, *, digest: str | None) -> np.ndarray:
    """The RGB of the frame at media time ``t_s`` of ``path``: sought to the key frame at or
    before it and decoded up to it, so it decodes as a pass from the start gives it (closed
    GOPs); its digest must be ``digest``, else the whole stream is decoded up to that time to
    find it (a DatasetError when no frame there has that digest)."""
    from assistant.sessions.media import _open

    container = _open(path, "video")
    try:
        stream = container.streams.video[0]
        base = stream.time_base
        target = round(Fraction(t_s) / Fraction(base))
        container.seek(target, stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None or frame.pts < target:
                continue
            if frame.pts == target and _matches(frame, digest):
                return np.asarray(frame.to_ndarray(format="rgb24"))
            break
        container.seek(0, stream=stream, backward=True)
        t = 0.0
        for frame in container.decode(stream):
            t = float(frame.pts * base) if frame.pts is not None else t
            if t == t_s and _matches(frame, digest):
                return np.asarray(frame.to_ndarray(format="rgb24"))
            if t > t_s:
                break
    finally:
        container.close()
    raise DatasetError(
        path,
        f"no frame at {t_s:.3f} s decodes to the pixels its replay indexed",
        "Clear the stored index (`python -m assistant ledger cache --clear`) or replay with "
        "--no-cache",
    )


def _matches(frame: Any, digest: str | None) -> bool:
    from assistant.pipeline.sampling import digest as rgb_digest
    from assistant.sessions.media import yuv_key

    if digest is None:
        return True
    key = yuv_key(frame)
    found = key() if key is not None else rgb_digest(frame.to_ndarray(format="rgb24"))
    return found == digest


@dataclass(slots=True)
class FramePlan:
    """How a replay gets its kept frames: from a stored index (``index``: nothing is decoded
    unless read), or by decoding and sampling, written down to be stored (``key``) once the
    pass is complete. Neither when the key is None (``--no-cache``, ``voice_activity``)."""

    key: str | None = None
    index: FrameIndex | None = None
    sampler: IndexingSampler | None = None

    def stages(self, stages: Stages) -> Stages:
        """``stages`` with the sampler that replays the index or writes it down."""
        if self.key is None:
            return stages
        if self.index is not None:
            return stages.with_(sampler=ReplayedSampler(stages.sampler.config, self.index))
        self.sampler = IndexingSampler(stages.sampler)
        return stages.with_(sampler=self.sampler)

    def record(self, run_id: str) -> CallCacheRecord | None:
        """The pass just completed, to store (None when it came from the index)."""
        if self.key is None or self.sampler is None:
            return None
        policy = self.sampler.config.policy
        return CallCacheRecord(
            key=self.key, spec=f"{STAGE}:{policy}", stage=STAGE, model_resolved=policy,
            value_json=self.sampler.index().to_json(), input_tokens=0, output_tokens=0,
            image_count=0, audio_s=0.0, compute_s=0.0, latency_ms=self.sampler.elapsed_ms(),
            cost_usd=0.0, run_id=run_id, call_id=None,
        )


def plan_frames(
    dataset: Dataset, config: Config, sink: RunSink, notice: Callable[[str], None] | None
) -> FramePlan:
    """Look the replay's sampler pass up in the call cache (unless ``[calls] cache = false``)."""
    if config.calls.cache is False:
        return FramePlan()
    stop_s = dataset.duration_s if dataset.interrupted else None
    key = index_key(
        video=dataset.screen, sampling=config.sampling, stop_s=stop_s,
        question_times_s=[q.t_s for q in dataset.questions],
    )
    if key is None:
        return FramePlan()
    spec = f"{STAGE}:{config.sampling.policy}"
    rows = sink.read(lambda held: call_cache_rows(held, [spec]))
    for row in rows or ():
        if row[1] == key:
            index = FrameIndex.from_json(row[2])
            if index is not None:
                if notice is not None:
                    notice(f"frame index: {len(index.offered_t_s)} frames sampled before, "
                           "none decoded unless read")
                return FramePlan(key, index)
    return FramePlan(key)
