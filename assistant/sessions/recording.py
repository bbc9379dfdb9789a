"""Record a live room as a dataset folder (format: datasets/README.md) while the agent serves it.

A ``RoomRecorder`` is handed to a ``LiveSession`` (``recorder=``), which passes it the screen-share
frames it receives (``rtc.VideoFrame`` in I420, with their media time), every 16 kHz audio chunk
of every participant, and every question it answered. The handlers only queue: one writer thread
encodes and writes, so the session's media callbacks never wait on an encoder.

- **Screen**: ``screen.mp4``, H.264 (libx264 ``ultrafast``, ``zerolatency``) in fragmented MP4
  (``frag_keyframe+empty_moov``, a keyframe at least every second, each packet flushed), each frame
  at the media time it arrived (time base 1 ms). PyAV frames are made from the I420 planes (format
  ``yuv420p``): no RGB step. The queue of frames waiting for the encoder is bounded
  (``max_video_queue``): when it is full a frame is dropped and counted (``stats.video_dropped``).
  Before the share starts the screen is black; after it stops the last frame is held.
- **Audio**: ``audio/<identity>.flac`` per participant, 16 kHz mono FLAC on the session's clock
  (``writers.FlacWriter``, every FLAC frame flushed): silence before a participant's first chunk,
  while they are muted or absent (a silent participant is padded up to ``PAD_LAG_S`` behind now),
  and to the end. Audio is never dropped; audio that arrives after its time was padded with silence
  is counted (``stats.audio_late_s``).
- **Questions**: ``questions.jsonl``, one line per answered question (chat and spoken), flushed as
  it is answered: ``id``, ``t_s``, ``asker``, ``text``, ``needs_screen``, ``proposed: false``,
  ``answer`` (what the agent said) and ``via`` (``chat`` or ``voice``). Never dropped.
- **Knowledge**: the tenant's documents the session was given, copied to ``knowledge/``.
- **Manifest**: rewritten atomically whenever a participant appears and every few seconds, with a
  ``[recorded]`` table; ``complete = false`` until ``close()`` pads every track to the end and
  writes ``complete = true``. A folder left by ``kill -9`` says ``complete = false``: the loader
  then reads it up to the last whole second that every file decodes to (torn tails left out), or
  refuses it with one line when not even one second was written.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.core.errors import DatasetError
from assistant.core.events import AudioChunk, Question
from assistant.sessions.writers import (
    AUDIO_RATE,
    FlacWriter,
    identity_of,
    manifest_text,
    replace_text,
    toml_value,
)

if TYPE_CHECKING:
    from livekit import rtc

    from assistant.sessions.datasets import Document

log = logging.getLogger(__name__)

RECORDED_TABLE = "recorded"
SCREEN_FILE = "screen.mp4"
PAD_LAG_S = 1.5  # a participant with no audio for this long is padded with silence to now - this
MANIFEST_EVERY_S = 5.0
KEYFRAME_EVERY_S = 1.0  # one fragment per second: what a kill can lose of the screen
TIME_BASE = Fraction(1, 1000)
_MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
_X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency", "crf": "26", "g": "600"}


@dataclass(frozen=True, slots=True)
class RecordOptions:
    folder: Path  # the dataset folder to create (new, or empty)
    tenant: str
    room: str
    title: str | None = None
    documents: tuple[Document, ...] = ()
    max_video_queue: int = 60  # frames waiting for the encoder (2 s of 30 fps)


@dataclass(slots=True)
class RecordStats:
    video_frames: int = 0
    video_dropped: int = 0  # the encoder was behind
    audio_chunks: int = 0
    audio_late_s: float = 0.0  # arrived after its time had been padded with silence
    questions: int = 0
    errors: int = 0
    last_error: str | None = None


def record_folder(parent: Path, tenant: str, room: str) -> Path:
    """A new folder for one session under ``parent`` (``--record DIR``, ``WORKBENCH_RECORD_DIR``)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = identity_of(f"{tenant}_{room}_{stamp}")
    folder, n = parent / base, 1
    while folder.exists():
        n += 1
        folder = parent / f"{base}-{n}"
    return folder


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:64] or "room"


class _Stop:
    pass


_STOP = _Stop()


@dataclass(slots=True)
class _Screen:
    container: Any
    stream: Any
    width: int
    height: int
    last: Any = None  # the last av.VideoFrame, held to the end
    last_ms: int = -1
    key_ms: int = -10_000


@dataclass(slots=True)
class _Voice:
    writer: FlacWriter


class RoomRecorder:
    """Writes one live session as a dataset folder. ``start(now=...)`` before the first event
    (``LiveSession.start`` does it), ``close(duration_s=...)`` at the end."""

    def __init__(self, options: RecordOptions) -> None:
        self.options = options
        self.folder = options.folder
        self.stats = RecordStats()
        self.tenant = options.tenant
        self.room = _slug(options.room)
        self.title = options.title or f"{options.tenant} / {options.room} (recorded)"
        self.run_id: str | None = None
        self._now: Callable[[], float] = lambda: 0.0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._video_backlog = 0
        self._ids: dict[str, str] = {}  # LiveKit identity -> dataset identity
        self._voices: dict[str, _Voice] = {}
        self._queued_s: dict[str, float] = {}  # per participant: media end of the last chunk queued
        self._screen: _Screen | None = None
        self._sharer: str | None = None
        self._questions_fd: int | None = None
        self._end_s = 0.0
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, *, now: Callable[[], float], run_id: str | None = None) -> None:
        if self._thread is not None:
            return
        self._now, self.run_id = now, run_id
        folder = self.folder
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise DatasetError(folder, "exists and is not empty", "Record into a new folder")
        (folder / "audio").mkdir(parents=True, exist_ok=True)
        self._write_knowledge(self.options.documents)
        self._questions_fd = os.open(folder / "questions.jsonl",
                                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._write_manifest(complete=False)
        self._thread = threading.Thread(target=self._work, name="recorder", daemon=True)
        self._thread.start()

    def close(self, *, duration_s: float | None = None) -> Path:
        """Drain the queue, pad every track to the end, write ``complete = true``."""
        if self._closed or self._thread is None:
            return self.folder
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        end_s = max(duration_s or 0.0, self._end_s, self._now(), 1.0)
        try:
            self._finish_screen(end_s)
            for voice in self._voices.values():
                voice.writer.silence_until(round(end_s * AUDIO_RATE))
                voice.writer.close()
        finally:
            if self._questions_fd is not None:
                os.close(self._questions_fd)
        self._write_manifest(complete=True, duration_s=end_s)
        return self.folder

    # -- handlers (any thread; they only queue) ---------------------------------------------------
    def video(self, participant: str, frame: rtc.VideoFrame, t_s: float) -> bool:
        """A screen-share frame at media time ``t_s``; False when dropped (encoder behind)."""
        if self._closed:
            return False
        with self._lock:
            if self._video_backlog >= self.options.max_video_queue:
                self.stats.video_dropped += 1
                return False
            self._video_backlog += 1
        self._queue.put(("video", participant, frame, t_s))
        return True

    def audio(self, chunk: AudioChunk) -> None:
        if not self._closed:
            self._queued_s[chunk.participant] = chunk.t_s + chunk.duration_s
            self._queue.put(("audio", chunk))

    def question(self, question: Question, answer: str, via: str) -> None:
        if not self._closed:
            self._queue.put(("question", question, answer, via))

    # -- the writer thread -----------------------------------------------------------------------
    def _work(self) -> None:
        last_pad = last_manifest = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if item is not None:
                    self._handle(item)
                wall = time.monotonic()
                if wall - last_pad >= 1.0:
                    self._pad_silent()
                    last_pad = wall
                if wall - last_manifest >= MANIFEST_EVERY_S:
                    self._write_manifest(complete=False)
                    last_manifest = wall
            except Exception as exc:  # a failed write must not end the meeting
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                if self.stats.errors <= 5:  # the first few in full; all are counted
                    log.exception("recording %s: %s", self.folder, self.stats.last_error)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "video":
            with self._lock:
                self._video_backlog -= 1
            _, participant, frame, t_s = item
            self._encode(participant, frame, t_s)
        elif kind == "audio":
            self._write_audio(item[1])
        else:
            self._write_question(*item[1:])

    def _identity(self, participant: str) -> str:
        known = self._ids.get(participant)
        if known is not None:
            return known
        base = identity_of(participant)
        identity, n = base, 1
        while identity in self._ids.values():
            n += 1
            identity = f"{base[:60]}-{n}"
        self._ids[participant] = identity
        writer = FlacWriter(self.folder / "audio" / f"{identity}.flac", flush=True)
        self._voices[identity] = _Voice(writer)
        self._write_manifest(complete=False)
        return identity

    def _pad(self, voice: _Voice, until_s: float) -> None:
        voice.writer.silence_until(round(max(until_s, 0.0) * AUDIO_RATE))

    def _pad_silent(self) -> None:
        """Silence for the participants with no audio queued in the last ``PAD_LAG_S`` of media
        time (muted, gone, or never spoke), so that a kill leaves every file as long as the rest."""
        until_s = self._now() - PAD_LAG_S
        for participant, identity in self._ids.items():
            if self._queued_s.get(participant, 0.0) <= until_s:
                self._pad(self._voices[identity], until_s)

    def _write_audio(self, chunk: AudioChunk) -> None:
        writer = self._voices[self._identity(chunk.participant)].writer
        at = round(chunk.t_s * AUDIO_RATE)
        samples = chunk.samples
        if at < writer.written:  # its time was padded already: keep the clock, count it
            late = min(writer.written - at, len(samples))
            self.stats.audio_late_s += late / AUDIO_RATE
            samples = samples[late:]
        writer.silence_until(at)
        writer.put(samples)
        self.stats.audio_chunks += 1
        self._end_s = max(self._end_s, writer.written / AUDIO_RATE)

    def _write_question(self, question: Question, answer: str, via: str) -> None:
        line = {
            "id": question.id,
            "t_s": round(question.t_s, 3),
            "asker": self._identity(question.asker),
            "text": question.text,
            "needs_screen": question.needs_screen,
            "proposed": False,
            "answer": answer,
            "via": via,
        }
        assert self._questions_fd is not None
        os.write(self._questions_fd, (json.dumps(line, ensure_ascii=False) + "\n").encode())
        self.stats.questions += 1
        self._end_s = max(self._end_s, question.t_s)

    # -- video ------------------------------------------------------------------------------------
    def _open_screen(self, width: int, height: int) -> _Screen:
        import av  # heavy: imported where used

        container = av.open(str(self.folder / SCREEN_FILE), "w", format="mp4",
                            options=dict(_MP4_OPTIONS))
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = TIME_BASE
        stream.options = dict(_X264_OPTIONS)
        return _Screen(container, stream, width, height)

    def _encode(self, participant: str, frame: rtc.VideoFrame, t_s: float) -> None:
        picture = i420_to_av(frame)
        screen = self._screen
        if screen is None:
            self._sharer = self._identity(participant)
            screen = self._screen = self._open_screen(picture.width, picture.height)
            if t_s > 0.05:  # nothing shared yet: black from 0
                self._put_frame(screen, black_frame(picture.width, picture.height), 0)
            self._write_manifest(complete=False)
        if (picture.width, picture.height) != (screen.width, screen.height):
            picture = picture.reformat(width=screen.width, height=screen.height)
        self._put_frame(screen, picture, round(t_s * 1000))

    def _put_frame(self, screen: _Screen, picture: Any, pts_ms: int) -> None:
        import av

        if pts_ms <= screen.last_ms:
            return  # two frames in one millisecond: keep the first
        if pts_ms - screen.key_ms >= KEYFRAME_EVERY_S * 1000:
            picture.pict_type = av.video.frame.PictureType.I
            screen.key_ms = pts_ms
        else:
            picture.pict_type = av.video.frame.PictureType.NONE
        picture.pts, picture.time_base = pts_ms, TIME_BASE
        for packet in screen.stream.encode(picture):
            screen.container.mux(packet)
        screen.last, screen.last_ms = picture, pts_ms
        self.stats.video_frames += 1
        self._end_s = max(self._end_s, pts_ms / 1000)

    def _finish_screen(self, end_s: float) -> None:
        screen = self._screen
        if screen is None:  # nobody shared a screen: a black one, so the folder loads
            if not self._voices:
                self._identity("room")
            self._sharer = next(iter(self._voices))
            screen = self._screen = self._open_screen(320, 180)
            self._put_frame(screen, black_frame(320, 180), 0)
        end_ms = round(end_s * 1000)
        if screen.last is not None and end_ms - screen.last_ms > 34:
            self._put_frame(screen, screen.last, end_ms)  # hold the last frame to the end
        for packet in screen.stream.encode(None):
            screen.container.mux(packet)
        screen.container.close()

    # -- folder -----------------------------------------------------------------------------------
    def _write_knowledge(self, documents: Iterable[Document]) -> None:
        folder = self.folder / "knowledge"
        folder.mkdir(exist_ok=True)
        written = 0
        for doc in documents:
            target = (folder / doc.doc_id).resolve()
            if folder.resolve() not in target.parents:
                continue  # a document id that would leave the folder
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(doc.text, encoding="utf-8")
            written += 1
        if not written:  # the loader needs one document; this one only says what the room is
            (folder / "meeting.md").write_text(
                f"# {self.title}\n\nRecorded live room. Add the tenant's documents here.\n",
                encoding="utf-8",
            )

    def _write_manifest(self, *, complete: bool, duration_s: float | None = None) -> None:
        covered = [v.writer.written / AUDIO_RATE for v in self._voices.values()]
        if self._screen is not None:
            covered.append(self._screen.last_ms / 1000)
        duration = duration_s if duration_s is not None else max(min(covered, default=0.0), 1.0)
        people = list(self._voices)
        s = self.stats
        entries = [
            f"complete = {'true' if complete else 'false'}  # false: interrupted, read up to "
            "its last whole second",
            f"run_id = {toml_value(self.run_id or '')}",
            f"video_frames = {s.video_frames}",
            f"video_dropped = {s.video_dropped}  # the encoder was behind",
            f"audio_late_s = {round(s.audio_late_s, 3)}",
            f"questions = {s.questions}",
        ]
        text = manifest_text(
            header="Written by the live agent (--record); see datasets/README.md.",
            name=identity_of(self.folder.name), title=self.title, tenant=self.tenant,
            room=self.room, duration_s=duration, screen=SCREEN_FILE,
            sharer=self._sharer or (people[0] if people else "room"), people=people,
            table=RECORDED_TABLE, entries=entries,
        )
        replace_text(self.folder / "manifest.toml", text)


def i420_to_av(frame: rtc.VideoFrame) -> Any:
    """A PyAV ``yuv420p`` frame from an I420 ``rtc.VideoFrame``'s planes (odd sizes lose their
    last row or column). Other buffer types are refused: the agent opens screen shares in I420,
    and LiveKit 1.2.1 aborts the process converting some Python-built types."""
    import av
    from livekit.rtc import VideoBufferType

    if frame.type != VideoBufferType.I420:
        kind = VideoBufferType.Name(frame.type)
        raise ValueError(f"the recorder takes I420 frames, not {kind}: open the track with "
                         "rtc.VideoStream(track, format=rtc.VideoBufferType.I420)")
    w, h = frame.width, frame.height
    cw, ch = (w + 1) // 2, (h + 1) // 2
    data = np.frombuffer(frame.data.cast("B"), np.uint8)
    ew, eh = w - w % 2, h - h % 2
    y = data[: w * h].reshape(h, w)[:eh, :ew]
    u = data[w * h : w * h + cw * ch].reshape(ch, cw)[: eh // 2, : ew // 2]
    v = data[w * h + cw * ch : w * h + 2 * cw * ch].reshape(ch, cw)[: eh // 2, : ew // 2]
    planes = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    return av.VideoFrame.from_ndarray(planes.reshape(eh * 3 // 2, ew), format="yuv420p")


def black_frame(width: int, height: int) -> Any:
    import av

    planes = np.full((height * 3 // 2, width), 128, np.uint8)
    planes[:height] = 16
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")
