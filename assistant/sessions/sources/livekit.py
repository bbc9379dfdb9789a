"""LiveKit rtc frames as the pipeline's events: the live agent's side of the source contract.

Video: ``video_frame_from_rtc`` reads the Y plane of a YUV frame (I420, I420A, I422, I444, NV12)
in place, as an H x W uint8 view of the frame's own buffer: no copy, no colour conversion, exactly
as ``assistant.sessions.media`` does for decoded files. RGB is made only when ``to_rgb()`` is called (for the
frames a sampler keeps), through LiveKit's converter. Only the packed RGB types (RGBA, BGRA, ARGB,
ABGR, RGB24) pay for every frame: their luma is computed from the pixels (BT.601 studio range, the
integer formula libyuv uses, so it matches the Y plane LiveKit would produce). Open a screen share
with ``rtc.VideoStream(track, format=rtc.VideoBufferType.I420)`` and every frame takes the free
path. Other types (I010) are refused with that hint: LiveKit 1.2.1 aborts the process when asked
to convert a Python-built I010 or ABGR frame, so this module never asks.

Audio: ``LiveAudio`` turns one participant's ``rtc.AudioFrame`` stream (any rate, any channel count,
int16 interleaved) into mono 16 kHz int16 ``AudioChunk``\\s, with a streaming ``rtc.AudioResampler``
kept per participant and media times counted in samples, so chunks tile the timeline exactly.

Time: ``MediaClock`` gives media seconds since the session start: ``now_s()`` for events without a
timestamp (audio, questions) and ``frame_time_s()`` for ``VideoFrameEvent.timestamp_us``.

The LiveKit SDK is imported only inside the functions that need it (whoever holds an rtc frame has it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from assistant.core.events import AudioChunk, VideoFrame

if TYPE_CHECKING:
    from livekit import rtc

STT_SAMPLE_RATE = 16_000
_YUV_Y_FIRST = frozenset({"I420", "I420A", "I422", "I444", "NV12"})  # 8-bit Y plane at offset 0
# packed RGB types: byte offsets of R, G, B and bytes per pixel (LiveKit names are memory order)
_PACKED = {
    "RGBA": (0, 1, 2, 4),
    "BGRA": (2, 1, 0, 4),
    "ARGB": (1, 2, 3, 4),
    "ABGR": (3, 2, 1, 4),
    "RGB24": (0, 1, 2, 3),
}


def _buffer_type_name(frame: rtc.VideoFrame) -> str:
    from livekit.rtc import VideoBufferType

    return str(VideoBufferType.Name(frame.type))


# -- video ----------------------------------------------------------------------------------------
def video_frame_from_rtc(frame: rtc.VideoFrame, *, track: str, t_s: float) -> VideoFrame:
    """The pipeline's ``VideoFrame`` for a LiveKit frame: luma in place for YUV, RGB on demand."""
    kind = _buffer_type_name(frame)
    if kind in _YUV_Y_FIRST:
        luma = _y_plane(frame)
    elif kind in _PACKED:
        luma = bt601_luma(_packed_pixels(frame, kind), kind)
    else:
        raise ValueError(
            f"LiveKit video buffer type {kind} is not supported here; open the track with "
            "rtc.VideoStream(track, format=rtc.VideoBufferType.I420) so LiveKit delivers I420"
        )
    return VideoFrame(
        track=track,
        t_s=t_s,
        width=frame.width,
        height=frame.height,
        luma=luma,
        to_rgb=_rgb_converter(frame, kind),
    )


def video_frame_from_event(
    event: rtc.VideoFrameEvent, *, track: str, clock: MediaClock
) -> VideoFrame:
    """A ``VideoStream`` event as a ``VideoFrame``, timed by ``clock`` from its ``timestamp_us``."""
    return video_frame_from_rtc(
        event.frame, track=track, t_s=clock.frame_time_s(track, event.timestamp_us)
    )


def _y_plane(frame: rtc.VideoFrame) -> np.ndarray:
    """The Y plane as a read-only H x W view of the frame's buffer (kept alive by the view)."""
    width, height = frame.width, frame.height
    plane = frame.get_plane(0)
    # LiveKit's Python frames are packed (Y stride == width); derive the stride from the plane
    # size anyway, so a padded layout would still be read right
    stride = len(plane) // height if plane is not None and height else width
    if stride < width:
        raise ValueError(f"Y plane of {len(plane or b'')} bytes is too small for {width}x{height}")
    # view the frame's own buffer (not get_plane's ctypes view, which does not keep it alive)
    data = np.frombuffer(frame.data.cast("B"), np.uint8, count=stride * height)
    luma = data.reshape(height, stride)[:, :width]
    luma.flags.writeable = False
    return luma


def _packed_pixels(frame: rtc.VideoFrame, kind: str) -> np.ndarray:
    bpp = _PACKED[kind][3]
    count = frame.width * frame.height * bpp
    data = np.frombuffer(frame.data.cast("B"), np.uint8, count=count)
    return data.reshape(frame.height, frame.width, bpp)


def bt601_luma(pixels: np.ndarray, kind: str = "RGB24") -> np.ndarray:
    """BT.601 studio-range luma of packed pixels, libyuv's integer formula: H x W uint8 in 16..235.

    ``Y = (66 R + 129 G + 25 B + 4224) >> 8`` fits in uint16, so no wider type is needed.
    """
    r, g, b, _ = _PACKED[kind]
    y = pixels[..., r].astype(np.uint16) * 66
    y += pixels[..., g].astype(np.uint16) * 129
    y += pixels[..., b].astype(np.uint16) * 25
    y += 4224
    y >>= 8
    return y.astype(np.uint8)


def _rgb_converter(frame: rtc.VideoFrame, kind: str) -> Callable[[], np.ndarray]:
    """``to_rgb`` for a frame: H x W x 3 uint8, converted only when called."""

    def to_rgb() -> np.ndarray:
        if kind in _PACKED:  # already RGB: one strided copy of the channels, no FFI call
            r, g, b, _ = _PACKED[kind]
            step = g - r  # R, G, B sit side by side, forwards or backwards
            stop = b + step if b + step >= 0 else None
            return np.ascontiguousarray(_packed_pixels(frame, kind)[..., r:stop:step])
        from livekit.rtc import VideoBufferType

        source = frame
        if kind == "I420A":  # LiveKit 1.2.1 converts I420A only to I420
            source = frame.convert(VideoBufferType.I420)
        if kind in ("I420", "I420A"):
            out = source.convert(VideoBufferType.RGB24)
            return _packed_pixels(out, "RGB24")  # a view that keeps the converted frame alive
        # NV12, I422 and I444 convert to RGBA (not RGB24) in LiveKit 1.2.1
        out = source.convert(VideoBufferType.RGBA)
        return np.ascontiguousarray(_packed_pixels(out, "RGBA")[..., :3])

    return to_rgb


# -- audio ----------------------------------------------------------------------------------------
def mono_samples(frame: rtc.AudioFrame) -> np.ndarray:
    """The frame's samples mixed down to mono int16 (the mean of the channels), a new array."""
    channels = frame.num_channels
    n = frame.samples_per_channel
    data = np.frombuffer(frame.data.cast("B"), np.int16, count=n * channels)
    if channels == 1:
        return data.copy()
    mixed = data.reshape(n, channels).astype(np.int32).sum(axis=1) // channels
    return mixed.astype(np.int16)


def _resample(resampler: rtc.AudioResampler, mono: np.ndarray, rate: int) -> list[np.ndarray]:
    from livekit import rtc

    frame = rtc.AudioFrame(mono.tobytes(), rate, 1, len(mono))
    return [_frame_samples(out) for out in resampler.push(frame)]


def _frame_samples(frame: rtc.AudioFrame) -> np.ndarray:
    return np.frombuffer(frame.data.cast("B"), np.int16, count=frame.samples_per_channel).copy()


def new_resampler(input_rate: int) -> rtc.AudioResampler:
    """A streaming mono ``input_rate`` -> 16 kHz resampler (LiveKit's soxr, medium quality)."""
    from livekit import rtc

    return rtc.AudioResampler(input_rate, STT_SAMPLE_RATE, num_channels=1)


def audio_chunk_from_rtc(
    frame: rtc.AudioFrame,
    *,
    participant: str,
    t_s: float,
    resampler: rtc.AudioResampler | None = None,
) -> AudioChunk | None:
    """One frame as a mono 16 kHz ``AudioChunk`` starting at ``t_s``, or None if nothing came out.

    Without ``resampler`` the frame is resampled on its own (push, then flush): exact length and
    alignment, fine for a whole clip, but every call restarts the filter, so a stream of 10 ms
    frames would click at the joins. With a streaming ``resampler`` (``new_resampler(rate)``, one per
    participant) output lags input by the resampler's buffer (about 40 ms at 48 kHz): the chunk is
    stamped as ending where the frame ends, which is right to within that lag. ``LiveAudio`` keeps
    the resampler for you and stamps chunks exactly by counting samples.
    """
    mono = mono_samples(frame)
    rate = frame.sample_rate
    if resampler is not None:
        parts = _resample(resampler, mono, rate)
    elif rate != STT_SAMPLE_RATE:
        one_shot = new_resampler(rate)
        parts = _resample(one_shot, mono, rate) + [_frame_samples(f) for f in one_shot.flush()]
    else:
        parts = [mono]
    samples = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    if not len(samples):
        return None
    if resampler is not None:  # the output ends where the input ends, less what is buffered
        t_s = max(t_s + frame.duration - len(samples) / STT_SAMPLE_RATE, 0.0)
    return AudioChunk(participant, t_s, samples)


class LiveAudio:
    """One participant's LiveKit audio as mono 16 kHz chunks on the session's media timeline.

    ``push(frame)`` mixes down, resamples with a streaming resampler kept for this participant, and
    returns chunks of at least ``min_chunk_s`` (LiveKit delivers 10 ms frames; the pipeline does not
    need 100 events a second per speaker). Chunk times count samples from the first frame's time, so
    consecutive chunks tile the timeline exactly; when the frame times given drift from that count
    by more than ``resync_s`` (a muted or republished track, a sample-rate change), what is pending
    is flushed and the count restarts at the new time (never before audio already handed out).

    Opening the track as ``rtc.AudioStream(track, sample_rate=16000, num_channels=1)`` lets LiveKit
    do the resampling; this class then only re-chunks and stamps.
    """

    def __init__(
        self,
        participant: str,
        *,
        clock: MediaClock | None = None,
        min_chunk_s: float = 0.1,
        resync_s: float = 1.0,
    ) -> None:
        self.participant = participant
        self.clock = clock
        self.min_chunk_s = min_chunk_s
        self.resync_s = resync_s
        self._resampler: rtc.AudioResampler | None = None
        self._rate: int | None = None
        self._origin_s = 0.0  # media time of the first sample of the current run
        self._consumed = 0  # input samples (at self._rate) of the current run
        self._emitted = 0  # 16 kHz samples of the current run handed out as chunks
        self._end_s = 0.0  # end of everything handed out: a new run never starts before it
        self._pending: list[np.ndarray] = []
        self._pending_n = 0

    def push(self, frame: rtc.AudioFrame, *, t_s: float | None = None) -> list[AudioChunk]:
        """Feed one frame starting at media time ``t_s`` (default: the clock's now minus the
        frame's duration); returns the chunks that are ready, usually none or one."""
        if t_s is None:
            if self.clock is None:
                raise ValueError("LiveAudio.push needs t_s, or a clock to stamp frames with")
            t_s = max(self.clock.now_s() - frame.duration, 0.0)
        out: list[AudioChunk] = []
        rate = frame.sample_rate
        expected_s = self._origin_s + (self._consumed / self._rate if self._rate else 0.0)
        if self._rate is None or rate != self._rate or abs(t_s - expected_s) > self.resync_s:
            out += self.flush()
            self._start_run(rate, t_s)
        mono = mono_samples(frame)
        self._consumed += len(mono)
        if self._resampler is None:
            self._add(mono)
        else:
            for part in _resample(self._resampler, mono, rate):
                self._add(part)
        if self._pending_n >= self.min_chunk_s * STT_SAMPLE_RATE:
            out.append(self._take())
        return out

    def flush(self) -> list[AudioChunk]:
        """End of a run (track ended, or a gap): everything still buffered, as one chunk."""
        if self._resampler is not None:
            for rest in self._resampler.flush():
                self._add(_frame_samples(rest))
            self._resampler = None
        self._rate = None
        return [self._take()] if self._pending_n else []

    def _start_run(self, rate: int, t_s: float) -> None:
        self._rate = rate
        self._resampler = new_resampler(rate) if rate != STT_SAMPLE_RATE else None
        self._origin_s, self._consumed, self._emitted = max(t_s, self._end_s), 0, 0

    def _add(self, samples: np.ndarray) -> None:
        if len(samples):
            self._pending.append(samples)
            self._pending_n += len(samples)

    def _take(self) -> AudioChunk:
        samples = np.concatenate(self._pending)
        chunk = AudioChunk(
            self.participant, self._origin_s + self._emitted / STT_SAMPLE_RATE, samples
        )
        self._emitted += len(samples)
        self._end_s = self._origin_s + self._emitted / STT_SAMPLE_RATE
        self._pending, self._pending_n = [], 0
        return chunk


# -- time -----------------------------------------------------------------------------------------
class MediaClock:
    """Media seconds since the session started, for events from a live room.

    ``now_s()`` is the monotonic time since the start: the media time of anything that arrives now
    without a timestamp of its own (audio frames, questions). ``frame_time_s(track, timestamp_us)``
    maps a ``VideoFrameEvent.timestamp_us``, whose epoch is LiveKit's and not ours, onto the same
    timeline: per track, ``timestamp + offset``, with the offset set by the least-delayed frame seen
    (so frame spacing is exact and a frame is never placed after its arrival), and reset when the
    timestamps jump back by more than ``resync_s`` (a restarted track). Times never go backwards on
    a track. A frame without a timestamp (0) gets its arrival time.
    """

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.monotonic,
        start: float | None = None,
        resync_s: float = 1.0,
    ) -> None:
        self._now = now
        self.start = now() if start is None else start
        self.resync_s = resync_s
        self._offsets: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def now_s(self) -> float:
        return self._now() - self.start

    def frame_time_s(self, track: str, timestamp_us: int) -> float:
        arrival_s = self.now_s()
        if timestamp_us <= 0:
            t_s = arrival_s
        else:
            stamp_s = timestamp_us / 1_000_000
            offset = arrival_s - stamp_s
            known = self._offsets.get(track)
            if known is None or offset < known or offset - known > self.resync_s:
                known = self._offsets[track] = offset
            t_s = stamp_s + known
        t_s = max(t_s, self._last.get(track, t_s))
        self._last[track] = t_s
        return t_s
