"""Media files through PyAV: probe and validate, then stream video frames and 16 kHz audio chunks.

Every decoder failure becomes a ``DatasetError`` that names the file and says what to do; a user never
sees a traceback from inside FFmpeg. Decoding streams: memory does not grow with the recording.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.errors import DatasetError
from assistant.core.events import AudioChunk, VideoFrame
from assistant.core.limits import Limits, raise_hint

SUPPORTED_SAMPLE_RATES = (8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
STT_SAMPLE_RATE = 16_000
MAX_VIDEO_PIXELS = Limits().max_video_pixels  # kept for importers; see assistant/limits.py
COVER_TOLERANCE_S = 1.0
_REENCODE = "re-export it (e.g. `ffmpeg -i in -c:v libx264 out.mp4` or `-c:a flac out.flac`)"


@dataclass(frozen=True, slots=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class AudioInfo:
    sample_rate: int
    channels: int
    duration_s: float


def _av() -> Any:
    import av  # PyAV is heavy: imported where used

    return av


def _open(path: Path, kind: str) -> Any:
    av = _av()
    if not path.is_file():
        raise DatasetError(
            path, f"the {kind} file is missing", "Add it or fix the path in manifest.toml"
        )
    if path.stat().st_size == 0:
        raise DatasetError(
            path, f"the {kind} file is empty", f"Replace it with a complete {kind} file"
        )
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise DatasetError(
            path,
            f"cannot be read as {kind} ({exc.strerror or exc})",
            f"The file is corrupt or truncated: {_REENCODE}",
        ) from exc


def _duration_s(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return 0.0


def check_frame_size(path: Path, width: int, height: int, limits: Limits) -> None:
    """Refuse a frame larger than the limits (checked on the header and on every decoded frame,
    since a stream can change size midway)."""
    if width <= 0 or height <= 0:
        raise DatasetError(
            path, f"has a frame size of {width}x{height}", f"Re-encode it: {_REENCODE}"
        )
    for name, value, limit in (
        ("max_video_pixels", width * height, limits.max_video_pixels),
        ("max_video_side", max(width, height), limits.max_video_side),
    ):
        if value > limit:
            raise DatasetError(
                path,
                f"has a frame size of {width}x{height}, too large to decode frame by frame",
                "Scale the recording to at most 3840x2160 (e.g. `ffmpeg -vf scale=1920:-2`); "
                + raise_hint(name, limit),
            )


def _last_time_s(
    path: Path, container: Any, stream: Any, near_s: float, kind: str, limits: Limits | None = None,
    *, truncated_ok: bool = False,
) -> float:
    """Decode the tail of a stream and return the end time of the last frame that decodes
    (``truncated_ok``: a torn tail, as a killed recorder leaves it, ends the stream there)."""
    av = _av()
    last = 0.0
    try:
        if near_s > 3.0 and math.isfinite(near_s):
            container.seek(int((near_s - 3.0) / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if limits is not None and isinstance(frame, av.VideoFrame):
                check_frame_size(path, frame.width, frame.height, limits)
            if frame.pts is None:
                continue
            t = float(frame.pts * stream.time_base)
            if isinstance(frame, av.AudioFrame):
                t += frame.samples / frame.sample_rate
            last = max(last, t)
    except av.FFmpegError as exc:
        if truncated_ok:
            return last
        raise DatasetError(
            path,
            f"the {kind} stops decoding after {last:.1f} s ({exc.strerror or exc})",
            f"The file is corrupt or truncated: {_REENCODE}",
        ) from exc
    return last


def probe_video(path: Path, *, expect_duration_s: float, limits: Limits | None = None,
                truncated_ok: bool = False) -> VideoInfo:
    """Check that ``path`` is a decodable video that covers ``expect_duration_s``, with frames
    within ``limits`` (default :meth:`Limits.from_env`), before any frame is decoded;
    ``truncated_ok``: the video ends where its tail stops decoding (an interrupted recording)."""
    limits = limits or Limits.from_env()
    container = _open(path, "video")
    try:
        if not container.streams.video:
            raise DatasetError(
                path, "has no video stream", "Point [screen].file at the screen recording"
            )
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        check_frame_size(path, width, height, limits)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if fps <= 0:
            raise DatasetError(
                path, "has no frame rate", f"Re-encode it at a constant rate: {_REENCODE}"
            )
        end_s = _last_time_s(
            path, container, stream, _duration_s(container, stream), "video", limits,
            truncated_ok=truncated_ok,
        )
    finally:
        container.close()
    _check_covers(path, end_s, expect_duration_s, "video")
    if not truncated_ok:  # a torn tail is expected there; the replay stops before it
        scan_video_packets(path)
    return VideoInfo(width=width, height=height, fps=fps, duration_s=end_s)


def probe_audio(path: Path, *, expect_duration_s: float, truncated_ok: bool = False) -> AudioInfo:
    """Check that ``path`` is decodable audio at a supported rate that covers the session."""
    container = _open(path, "audio")
    try:
        if not container.streams.audio:
            raise DatasetError(
                path, "has no audio stream", "Point the participant's audio at a sound file"
            )
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or 0)
        if rate <= 0:  # e.g. text or zeros that FFmpeg guessed to be some raw format
            raise DatasetError(
                path,
                "holds no decodable audio (its sample rate is unknown)",
                f"The file is corrupt or not audio: {_REENCODE}",
            )
        if rate not in SUPPORTED_SAMPLE_RATES:
            rates = ", ".join(str(r) for r in SUPPORTED_SAMPLE_RATES)
            raise DatasetError(
                path,
                f"has an unsupported sample rate of {rate} Hz",
                f"Resample it to one of {rates} Hz (e.g. `sox in.wav -r 16000 out.flac`)",
            )
        channels = int(stream.codec_context.channels or 1)
        end_s = _last_time_s(path, container, stream, _duration_s(container, stream), "audio",
                             truncated_ok=truncated_ok)
    finally:
        container.close()
    _check_covers(path, end_s, expect_duration_s, "audio")
    return AudioInfo(sample_rate=rate, channels=channels, duration_s=end_s)


_NAL_FILTERS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}


def scan_video_packets(path: Path) -> int:
    """Read every packet of the video without decoding it (about 0.1 s per minute of 720p):
    timestamps that never go back, no empty packet, and for H.264 / H.265 every NAL unit's
    length inside its packet (what breaks when the middle of a file is overwritten). Returns the
    packets read; DatasetError naming the media time where the stream breaks."""
    av = _av()
    container = _open(path, "video")
    t_s, packets = 0.0, 0
    try:
        stream = container.streams.video[0]
        name = _NAL_FILTERS.get(stream.codec_context.name)
        check = None
        if name is not None:
            from av.bitstream import BitStreamFilterContext

            check = BitStreamFilterContext(name, stream)
        last_dts = None
        for packet in container.demux(stream):
            if packet.size == 0 and packet.dts is None:
                continue  # the demuxer's end-of-stream marker
            if packet.pts is not None:
                t_s = float(packet.pts * stream.time_base)
            if packet.size == 0:
                raise _Broken("an empty packet")
            if packet.dts is not None and last_dts is not None and packet.dts < last_dts:
                raise _Broken("timestamps go back")
            last_dts = packet.dts
            if check is not None:
                check.filter(packet)
            packets += 1
    except _Broken as exc:
        raise DatasetError(
            path, f"the video is corrupt at {t_s:.1f} s ({exc})", f"Replace the file: {_REENCODE}"
        ) from exc
    except av.FFmpegError as exc:
        raise DatasetError(
            path,
            f"the video is corrupt at {t_s:.1f} s ({exc.strerror or exc})",
            f"Replace the file: {_REENCODE}",
        ) from exc
    finally:
        container.close()
    return packets


class _Broken(Exception):
    pass


def _check_covers(path: Path, end_s: float, expect_s: float, kind: str) -> None:
    if end_s < expect_s - COVER_TOLERANCE_S:
        raise DatasetError(
            path,
            f"the {kind} ends at {end_s:.1f} s but the session lasts {expect_s:.1f} s",
            "The file is truncated, or duration_s in manifest.toml is too long: fix whichever is wrong",
        )


def luma_of(frame: Any) -> np.ndarray:
    """The Y plane of a decoded frame as an H x W uint8 view (no copy, no colour conversion).

    Only 8-bit YUV frames take the fast path; anything else (10-bit, RGB) is converted to grey."""
    name = frame.format.name
    eight_bit = frame.format.components[0].bits == 8
    if eight_bit and name.startswith(("yuv", "nv12", "nv21")) and not name.startswith("yuva"):
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
        return rows[:, : frame.width]
    return np.asarray(frame.to_ndarray(format="gray"))


def iter_video(
    path: Path, *, track: str = "screen", limits: Limits | None = None, stop_s: float | None = None,
    every_s: float | None = None,
) -> Iterator[VideoFrame]:
    """Every frame of the file, in order, with its media time; a frame over ``limits`` (default
    :meth:`Limits.from_env`) stops it with a DatasetError. ``stop_s`` (an interrupted recording,
    checked to decode that far): frames after it are not read, and its torn tail is not an error.
    ``every_s``: only the frames a ``fixed`` sampler with that period keeps, decoding no more
    than they need (``sessions.decoding``; every frame for a codec it does not cover)."""
    from assistant.sessions.decoding import PLANNED_CODECS, planned_frames

    av = _av()
    limits = limits or Limits.from_env()
    container = _open(path, "video")
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # planned too: each packet carries its own skip_frame
        frames = (
            planned_frames(container, stream, period_s=every_s, stop_s=stop_s)
            if every_s is not None and stream.codec_context.name in PLANNED_CODECS
            else _timed(container.decode(stream), stream.time_base)
        )
        t_s = 0.0
        try:
            for frame, t_s in frames:
                if stop_s is not None and t_s > stop_s:
                    return
                yield video_frame(path, frame, track=track, t_s=t_s, limits=limits)
        except av.FFmpegError as exc:
            if stop_s is not None:
                return
            raise decoding_error(path, t_s, exc) from exc
    finally:
        container.close()


def _timed(frames: Iterator[Any], time_base: Any) -> Iterator[tuple[Any, float]]:
    """Each decoded frame with its media time (a frame without one keeps the last)."""
    t_s = 0.0
    for frame in frames:
        if frame.pts is not None:
            t_s = float(frame.pts * time_base)
        yield frame, t_s


def video_frame(path: Path, frame: Any, *, track: str, t_s: float, limits: Limits) -> VideoFrame:
    """A decoded frame as the pipeline's event: its Y plane as is, RGB only when asked for."""
    check_frame_size(path, frame.width, frame.height, limits)
    return VideoFrame(
        track=track,
        t_s=t_s,
        width=frame.width,
        height=frame.height,
        luma=luma_of(frame),
        to_rgb=_rgb_converter(frame),
        content_key=yuv_key(frame),
    )


def yuv_key(frame: Any) -> Callable[[], str] | None:
    """A digest of an 8-bit planar YUV frame's visible pixels, read from its planes as decoded
    (half the bytes of its RGB, and no conversion); None for other formats."""
    name = frame.format.name
    if not (name.startswith("yuv") and name.endswith("p") and not name.startswith("yuva")):
        return None
    if any(c.bits != 8 for c in frame.format.components):
        return None

    def key() -> str:
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{name} {frame.width}x{frame.height}".encode())
        for plane in frame.planes:
            if plane.line_size == plane.width:
                h.update(plane)
            else:  # rows padded for alignment: the padding is not picture
                rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                h.update(np.ascontiguousarray(rows[:, : plane.width]).tobytes())
        return h.hexdigest()

    return key


def decoding_error(path: Path, t_s: float, exc: Any) -> DatasetError:
    return DatasetError(
        path,
        f"decoding failed at {t_s:.1f} s ({exc.strerror or exc})",
        f"The file is corrupt: {_REENCODE}",
    )


def _rgb_converter(frame: Any) -> Any:
    def to_rgb() -> np.ndarray:
        return np.asarray(frame.to_ndarray(format="rgb24"))

    return to_rgb


def iter_audio(
    path: Path, *, participant: str, chunk_s: float = 0.5, stop_s: float | None = None
) -> Iterator[AudioChunk]:
    """The file as mono 16 kHz int16 chunks of ``chunk_s`` seconds, timed from the file's start
    (``stop_s``: up to that time only, a torn tail after it not an error, as ``iter_video``)."""
    av = _av()
    container = _open(path, "audio")
    chunk_len = int(chunk_s * STT_SAMPLE_RATE)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=STT_SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_n = 0
    emitted = 0
    try:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    data = out.to_ndarray().reshape(-1)
                    pending.append(data)
                    pending_n += len(data)
                while pending_n >= chunk_len:
                    joined = np.concatenate(pending)
                    yield AudioChunk(participant, emitted / STT_SAMPLE_RATE, joined[:chunk_len])
                    emitted += chunk_len
                    pending, pending_n = [joined[chunk_len:]], len(joined) - chunk_len
                if stop_s is not None and emitted >= stop_s * STT_SAMPLE_RATE:
                    return
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            if stop_s is not None:
                return
            raise DatasetError(
                path,
                f"decoding failed at {emitted / STT_SAMPLE_RATE:.1f} s ({exc.strerror or exc})",
                f"The file is corrupt: {_REENCODE}",
            ) from exc
        if pending:
            rest = np.concatenate(pending)
            if len(rest):
                yield AudioChunk(participant, emitted / STT_SAMPLE_RATE, rest)
    finally:
        container.close()
