"""A recorded session, live in a room (the command: ``python -m assistant publish``, in cli.publish).

The publisher joins the tenant's room as the dataset's participants and plays the session in real
time (``PacedSource`` over the recording, ``--speed`` to go faster), so an agent in the room meets a
session whose transcript, screen and questions are known:

- one connection per participant (identity and display name from the manifest), each publishing
  its microphone as an ``rtc.AudioSource`` track (16 kHz mono, 20 ms frames). One connection could
  publish several audio tracks, but they would all belong to one participant, and an agent
  transcribes (and attributes questions) per participant; separate identities are what a real
  meeting looks like;
- the screen participant's connection also publishes the screen as an ``rtc.VideoSource`` track with
  source ``SOURCE_SCREENSHARE``: I420 frames made straight from the decoded YUV planes (no RGB step),
  stamped with their media time;
- each scripted question is posted to the room chat (topic ``lk.chat``) by its asker at its time.

The frame and audio conversions (``rtc_video_frame``, ``audio_frames``) are plain functions, tested
without a server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.core.errors import DatasetError
from assistant.core.events import AudioChunk, Event, Question, VideoFrame
from assistant.sessions.datasets import Dataset
from assistant.sessions.media import iter_audio
from assistant.sessions.sources.base import Source
from assistant.sessions.sources.recorded import merge_by_time

if TYPE_CHECKING:
    from livekit import rtc

    from assistant.livekit.admin import LiveKitSettings

log = logging.getLogger(__name__)

CHAT_TOPIC = "lk.chat"
AUDIO_RATE = 16_000
FRAME_MS = 20


# -- frames ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class I420Frame(VideoFrame):
    """A decoded frame that also carries its I420 bytes (Y, then U, then V; no padding)."""

    i420: np.ndarray


def i420_planes(frame: Any) -> np.ndarray:
    """A PyAV frame as packed I420 bytes, from its YUV planes when it is 8-bit 4:2:0 (no
    colour conversion), else through PyAV's converter."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    width, height = frame.width, frame.height
    cw, ch = (width + 1) // 2, (height + 1) // 2
    parts = []
    for plane, (w, h) in zip(frame.planes, ((width, height), (cw, ch), (cw, ch)), strict=True):
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w]
        parts.append(rows.reshape(-1))
    return np.concatenate(parts)


def iter_i420(path: Path, *, track: str, stop_s: float | None = None) -> Iterator[I420Frame]:
    """Every frame of a video file with its media time, Y plane and I420 bytes (up to ``stop_s``)."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise DatasetError(path, f"cannot open the screen video ({exc})", "Re-export it") from exc
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t_s = 0.0
        for frame in container.decode(stream):
            if frame.pts is not None and stream.time_base is not None:
                t_s = float(frame.pts * stream.time_base)
            if stop_s is not None and t_s > stop_s:
                break
            data = i420_planes(frame)
            width, height = frame.width, frame.height
            luma = data[: width * height].reshape(height, width)
            yield I420Frame(
                track=track,
                t_s=t_s,
                width=width,
                height=height,
                luma=luma,
                to_rgb=_rgb_of(frame),
                i420=data,
            )
    except av.FFmpegError as exc:
        raise DatasetError(path, f"decoding failed ({exc})", "Re-export it") from exc
    finally:
        container.close()


def _rgb_of(frame: Any) -> Callable[[], np.ndarray]:
    return lambda: np.asarray(frame.to_ndarray(format="rgb24"))


def rtc_video_frame(frame: I420Frame) -> rtc.VideoFrame:
    """The frame as an ``rtc.VideoFrame`` of type I420 (its bytes copied once)."""
    from livekit import rtc

    return rtc.VideoFrame(frame.width, frame.height, rtc.VideoBufferType.I420, frame.i420.tobytes())


def audio_frames(chunk: AudioChunk, *, frame_ms: int = FRAME_MS) -> list[rtc.AudioFrame]:
    """A mono 16 kHz chunk as ``rtc.AudioFrame``s of ``frame_ms`` (10 or 20 ms; the last one may be
    shorter), what ``rtc.AudioSource.capture_frame`` takes."""
    from livekit import rtc

    if frame_ms not in (10, 20):
        raise ValueError(f"LiveKit audio frames are 10 or 20 ms, not {frame_ms}")
    step = chunk.sample_rate * frame_ms // 1000
    samples = np.ascontiguousarray(chunk.samples, dtype=np.int16)
    return [
        rtc.AudioFrame(
            samples[i : i + step].tobytes(), chunk.sample_rate, 1, len(samples[i : i + step])
        )
        for i in range(0, len(samples), step)
    ]


class PublishSource(Source):
    """The dataset's events for publishing: I420 screen frames, short audio chunks, questions,
    ordered by when they become available (as ``RecordedSource``)."""

    kind = "publish"

    def __init__(self, dataset: Dataset, *, audio_chunk_s: float = 0.1) -> None:
        self.dataset = dataset
        self.audio_chunk_s = audio_chunk_s

    @property
    def duration_s(self) -> float:
        return self.dataset.duration_s

    def events(self) -> Generator[Event, None, None]:
        ds = self.dataset
        stop_s = ds.duration_s if ds.interrupted else None  # a killed recording: its whole seconds
        yield from merge_by_time(
            [
                iter_i420(ds.screen, track=f"{ds.screen_participant}:screen", stop_s=stop_s),
                *(
                    iter_audio(
                        p.audio, participant=p.identity, chunk_s=self.audio_chunk_s, stop_s=stop_s
                    )
                    for p in ds.participants
                ),
                iter(ds.questions),
            ]
        )


# -- publishing ---------------------------------------------------------------------------------
class _Publisher:
    """One participant's connection: its microphone, and the screen if it shares it."""

    def __init__(self, identity: str, name: str, *, screen: tuple[int, int] | None) -> None:
        from livekit import rtc

        self.identity = identity
        self.name = name
        self.room = rtc.Room()
        self.audio = rtc.AudioSource(AUDIO_RATE, 1)
        self.video = rtc.VideoSource(*screen) if screen else None

    async def join(self, url: str, token: str) -> None:
        from livekit import rtc

        await self.room.connect(url, token)
        mic = rtc.LocalAudioTrack.create_audio_track(f"{self.identity}-mic", self.audio)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(mic, options)
        if self.video is not None:
            screen = rtc.LocalVideoTrack.create_video_track(f"{self.identity}-screen", self.video)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_SCREENSHARE)
            await self.room.local_participant.publish_track(screen, options)

    async def close(self) -> None:
        await self.room.disconnect()
        await self.audio.aclose()
        if self.video is not None:
            await self.video.aclose()


async def publish(
    dataset: Dataset,
    *,
    tenant: str,
    room: str,
    settings: LiveKitSettings,
    speed: float = 1.0,
    notice: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Play ``dataset`` into ``room`` in real time (``speed`` times faster); returns counts."""
    from assistant.core.tenancy import TenantContext
    from assistant.livekit.tokens import mint_token
    from assistant.sessions.sources.paced import PacedSource

    say = notice or (lambda message: log.info("%s", message))
    ctx = TenantContext(tenant)
    size = _screen_size(dataset)
    publishers = {
        p.identity: _Publisher(
            p.identity, p.name, screen=size if p.identity == dataset.screen_participant else None
        )
        for p in dataset.participants
    }
    if dataset.screen_participant not in publishers:  # a screen shared by a silent participant
        publishers[dataset.screen_participant] = _Publisher(
            dataset.screen_participant, dataset.screen_participant, screen=size
        )
    counts = {"frames": 0, "audio_frames": 0, "questions": 0, "dropped_frames": 0}
    try:
        for pub in publishers.values():
            token = mint_token(
                settings, ctx, room, identity=pub.identity, name=pub.name, ttl_s=3600
            )
            await pub.join(settings.url, token)
        say(f"publishing {dataset.name} into {room} as {', '.join(publishers)} (speed {speed})")
        source = PacedSource(PublishSource(dataset), speed=speed)
        async for event in source.aevents():
            if isinstance(event, I420Frame):
                video = publishers[dataset.screen_participant].video
                assert video is not None
                video.capture_frame(rtc_video_frame(event), timestamp_us=int(event.t_s * 1e6))
                counts["frames"] += 1
            elif isinstance(event, AudioChunk):
                speaker = publishers.get(event.participant)
                if speaker is not None:
                    for frame in audio_frames(event):
                        await speaker.audio.capture_frame(frame)
                        counts["audio_frames"] += 1
            elif isinstance(event, Question):
                asker = publishers.get(event.asker) or publishers[dataset.screen_participant]
                await asker.room.local_participant.send_text(event.text, topic=CHAT_TOPIC)
                counts["questions"] += 1
                say(f"{event.t_s:7.1f} s  {asker.identity} asks: {event.text}")
        counts["dropped_frames"] = source.dropped_frames
    finally:
        for pub in publishers.values():
            await pub.close()
    return counts


def _screen_size(dataset: Dataset) -> tuple[int, int]:
    first = next(iter_i420(dataset.screen, track="probe"))
    return first.width, first.height
