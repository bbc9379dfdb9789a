"""One live room session: LiveKit frames, audio and chat in; ledger rows and chat answers out.

``LiveSession`` owns one ``Pipeline`` (the same code path a replay runs) and one ledger sink
(``PathSink``: the file is opened per checkpoint only, and rows are spooled when the workbench holds
it). The handlers are called from the event loop that reads the room and must return at once:

- ``on_video(participant, track_sid, frame, source=...)``: an ``rtc.VideoFrame`` or
  ``rtc.VideoFrameEvent``. The frame's Y plane is viewed in place (``video_frame_from_rtc``); the
  sampler judges that luminance and only kept frames are converted to RGB. One video track feeds
  the sampler at a time: a screen share wins over cameras; another track takes over when the
  active one ends or stalls. Frames of the other tracks are counted (``stats.frames_ignored``).
- ``on_audio(participant, frame)``: an ``rtc.AudioFrame``; one ``LiveAudio`` per participant turns
  it into 16 kHz mono chunks, so the transcriber's voice gate keeps a state per participant.
- ``on_chat(participant, text)``: a chat message; a question unless ``WakePhrases`` says not.

Utterances addressed to the assistant ("Assistant, what …") become questions too. All pipeline work
(voice gate, transcription, OCR, answers, ledger writes) runs on one worker thread per session, fed
by a queue, so the event loop never blocks on a model. When the worker is behind by more than
``max_video_backlog`` frames, new video frames are dropped and counted (``stats.frames_dropped``);
audio and questions are never dropped.

Answers go to ``on_answer`` (called on the worker thread; the agent posts them to the room chat).
Conversation history: every question and answer is added to the pipeline's transcript as a turn
(the asker's chat message, the assistant's answer), so later answers can quote earlier ones within
the transcript window; nothing extra is written to the ledger for them.

Checkpoints: after every question, and every ``flush_every_s`` seconds while rows are pending
(or ``FLUSH_ROWS`` rows). ``close()`` transcribes what is still open, writes the last checkpoint and
marks the run finished (or interrupted, or failed).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import TYPE_CHECKING, Any

from assistant.core.config import Config
from assistant.core.errors import WorkbenchError
from assistant.core.events import AudioChunk, Question, Utterance, VideoFrame
from assistant.core.tenancy import validate_tenant_id
from assistant.ledger.records import RequestRecord, RunRecord
from assistant.ledger.sink import RunSink, open_sink
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.stages import Document, Stages
from assistant.sessions.driver import FLUSH_ROWS, RunDriver, add_stored_knowledge, prepare_stages
from assistant.sessions.sources.livekit import LiveAudio, MediaClock, video_frame_from_rtc
from assistant.sessions.wake import WakePhrases, needs_screen

if TYPE_CHECKING:
    from livekit import rtc

    from assistant.sessions.recording import RoomRecorder

log = logging.getLogger(__name__)

SOURCE_KIND = "livekit"
SCREEN_SHARE = "screen_share"
CAMERA = "camera"
ASSISTANT_IDENTITY = "assistant"
STALE_VIDEO_S = 2.0  # an active video track silent this long gives way to another
_CITATION = re.compile(r"\s*\[\d+\]")  # an answer's citation markers, left out of the history


class _Stop:
    """Ends the worker once everything queued before it is handled."""


_STOP = _Stop()


# -- stages ---------------------------------------------------------------------------------------
def live_stages(
    config: Config,
    *,
    tenant: str,
    documents: Iterable[Document] = (),
    transcript: tuple[Utterance, ...] | None = None,
    notice: Callable[[str], None] | None = None,
) -> Stages:
    """Every pipeline stage for a live session of ``tenant``, models loaded before the first
    frame; ``transcript`` only when the ``recorded`` transcriber is wanted (a publisher replaying
    a known session)."""
    return prepare_stages(
        config, tenant=tenant, documents=documents, transcript=transcript, notice=notice
    )


def live_run_id(room: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    return f"live-{room[:70]}-{stamp}-{uuid.uuid4().hex[:8]}"


# -- results --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LiveAnswer:
    """An answered question, for whoever posts it to the room."""

    question: Question
    record: RequestRecord
    via: str  # "chat" or "voice"

    @property
    def text(self) -> str:
        """What to post: the answer, or a short apology that says what failed."""
        if self.record.answer:
            return self.record.answer
        return f"Sorry, I could not answer that ({self.record.error or self.record.status})."


@dataclass(slots=True)
class LiveStats:
    frames_in: int = 0
    frames_dropped: int = 0  # the worker was behind
    frames_ignored: int = 0  # not the active video track
    audio_chunks: int = 0
    questions: int = 0
    answers: int = 0
    event_errors: int = 0
    last_error: str | None = None
    checkpoints: int = 0


@dataclass(slots=True)
class _ActiveVideo:
    track: str
    source: str
    last_seen_s: float


@dataclass(slots=True)
class _Turns:
    """Conversation history: every question and answer, in order."""

    items: list[tuple[Question, str]] = field(default_factory=list)


class LiveSession:
    """One room (or one agent job): a pipeline, a run in the ledger and a worker thread.

    ``stages`` are ``live_stages``' (or ``build_stages``'); ``ledger`` a path (``PathSink``) or a
    sink. The run's lifecycle (start, checkpoints, finish) is a ``RunDriver``'s, as a replay's.
    Call ``start()`` before the first event and ``close()`` (or ``await aclose()``) at the end.
    """

    def __init__(
        self,
        *,
        ledger: RunSink | str | os.PathLike[str],
        config: Config,
        stages: Stages,
        tenant: str,
        room: str,
        source_ref: str | None = None,
        run_id: str | None = None,
        wake: WakePhrases | None = None,
        names: dict[str, str] | None = None,
        on_answer: Callable[[LiveAnswer], None] | None = None,
        notice: Callable[[str], None] | None = None,
        clock: MediaClock | None = None,
        flush_every_s: float = 10.0,
        max_video_backlog: int = 30,
        assistant_name: str = "Assistant",
        history: bool = True,
        recorder: RoomRecorder | None = None,
    ) -> None:
        self.tenant = validate_tenant_id(tenant)
        self.room = room
        self.source_ref = source_ref or room
        self.run_id = run_id or live_run_id(room)
        self.config = config
        self.stages = stages
        self.wake = wake or WakePhrases.for_agent(assistant_name)
        self.on_answer = on_answer
        self.notice = notice
        self.clock = clock or MediaClock()
        self.flush_every_s = flush_every_s
        self.max_video_backlog = max_video_backlog
        self.assistant_name = assistant_name
        self.history = history
        self.recorder = recorder  # writes the room as a dataset (sessions/recording.py)
        self.stats = LiveStats()
        self.turns = _Turns()
        self.sink = open_sink(ledger, notice=notice)
        self.driver = RunDriver(self.sink, self.run_id, stages)
        add_stored_knowledge(stages, self.sink, self.tenant, notice)  # as a replay searches them
        self.pipeline = Pipeline(
            run_id=self.run_id,
            tenant=self.tenant,
            room=room,
            config=config,
            stages=stages,
            emit=self.driver.append,
            names={**(names or {}), ASSISTANT_IDENTITY: assistant_name},
        )
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._video_backlog = 0
        self._audio: dict[str, LiveAudio] = {}
        self._active: _ActiveVideo | None = None
        self._chat_ids = count(1)
        self._voice_ids = count(1)
        self._events_done = 0
        self._reached_s = 0.0
        self._worker: threading.Thread | None = None
        self._closed = False
        self._status: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Write the run row and start the worker thread."""
        if self._worker is not None:
            return
        self.driver.start(
            RunRecord(
                run_id=self.run_id,
                source_kind=SOURCE_KIND,
                source_ref=self.source_ref,
                dataset_name=None,
                tenant=self.tenant,
                room=self.room,
                config_json=self.config.to_json(),
                config_hash=self.config.digest(),
                media_duration_s=None,
            )
        )
        if self.recorder is not None:
            self.recorder.start(now=self.clock.now_s, run_id=self.run_id)
        self._worker = threading.Thread(target=self._work, name=f"live-{self.run_id}", daemon=True)
        self._worker.start()

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive() and not self._closed

    def close(self, *, status: str = "finished", error: str | None = None) -> None:
        """Transcribe what is open, write the last checkpoint and mark the run ``status``
        (finished, interrupted or failed). Blocks until the worker has handled the queue;
        from an event loop, ``await aclose()``."""
        if self._closed:
            return
        self._closed = True
        worker = self._worker
        if worker is None:
            return
        for audio in list(self._audio.values()):
            for chunk in audio.flush():
                self._put(chunk)
        self._queue.put(_STOP)
        worker.join()
        stats = self.stats
        if error is None and stats.event_errors:
            error = f"{stats.event_errors} events failed; the last: {stats.last_error}"
        try:
            self.driver.finish(
                status=status,
                error=error,
                media_processed_s=max(self._reached_s, self.clock.now_s()),
            )
        finally:
            self._status = status
            if self.recorder is not None:
                self._close_recorder()
        if self.notice is not None and stats.frames_dropped:
            self.notice(
                f"run {self.run_id}: {stats.frames_dropped} of {stats.frames_in} video frames "
                "were dropped while the pipeline was behind"
            )

    def _close_recorder(self) -> None:
        assert self.recorder is not None
        try:
            self.recorder.close(duration_s=max(self._reached_s, self.clock.now_s()))
        except Exception as exc:  # the run is in the ledger either way
            log.exception("recording %s could not be finished", self.recorder.folder)
            if self.notice is not None:
                self.notice(f"recording {self.recorder.folder} could not be finished: {exc}")

    async def aclose(self, *, status: str = "finished", error: str | None = None) -> None:
        import asyncio

        await asyncio.to_thread(self.close, status=status, error=error)

    # -- handlers (event loop) ------------------------------------------------------------------
    def on_video(
        self,
        participant: str,
        track_sid: str,
        frame: rtc.VideoFrame | rtc.VideoFrameEvent,
        *,
        source: str = SCREEN_SHARE,
    ) -> bool:
        """Offer one frame; True when it was queued for the sampler."""
        if self._closed:
            return False
        self.stats.frames_in += 1
        label = f"{participant}:{'screen' if source == SCREEN_SHARE else source}"
        now_s = self.clock.now_s()
        if self.recorder is not None and source == SCREEN_SHARE:
            self.recorder.video(participant, *self._timed(track_sid, frame, now_s))
        if not self._take_video(label, source, now_s):
            self.stats.frames_ignored += 1
            return False
        with self._lock:
            if self._video_backlog >= self.max_video_backlog:
                self.stats.frames_dropped += 1
                return False
            self._video_backlog += 1
        raw, t_s = self._timed(track_sid, frame, now_s)
        try:
            event = video_frame_from_rtc(raw, track=label, t_s=t_s)
        except Exception:
            with self._lock:
                self._video_backlog -= 1
            raise
        self._queue.put(event)
        return True

    def _timed(
        self, track_sid: str, frame: rtc.VideoFrame | rtc.VideoFrameEvent, now_s: float
    ) -> tuple[rtc.VideoFrame, float]:
        timestamp_us = getattr(frame, "timestamp_us", None)
        if timestamp_us is not None:  # a VideoFrameEvent: timed by its own stamp
            return frame.frame, self.clock.frame_time_s(track_sid, int(timestamp_us))  # type: ignore[union-attr]
        return frame, now_s  # type: ignore[return-value]

    def end_video(self, participant: str, source: str = SCREEN_SHARE) -> None:
        """The track ended (unsubscribed, unpublished): another may feed the sampler."""
        label = f"{participant}:{'screen' if source == SCREEN_SHARE else source}"
        if self._active is not None and self._active.track == label:
            self._active = None

    def on_audio(self, participant: str, frame: rtc.AudioFrame) -> int:
        """Feed one audio frame; returns the chunks queued (usually 0 or 1)."""
        if self._closed:
            return 0
        audio = self._audio.get(participant)
        if audio is None:
            audio = self._audio[participant] = LiveAudio(participant, clock=self.clock)
        chunks = audio.push(frame)
        for chunk in chunks:
            self._put(chunk)
        return len(chunks)

    def end_audio(self, participant: str) -> None:
        """The participant's microphone ended: what is buffered goes to the transcriber."""
        audio = self._audio.pop(participant, None)
        if audio is not None and not self._closed:
            for chunk in audio.flush():
                self._put(chunk)

    def on_chat(self, participant: str, text: str) -> Question | None:
        """A chat message from ``participant``: queued as a question unless it is not one."""
        if self._closed:
            return None
        asked = self.wake.chat_question(text)
        if asked is None:
            return None
        question = Question(
            id=f"chat-{next(self._chat_ids):04d}",
            t_s=self.clock.now_s(),
            asker=participant,
            text=asked,
            needs_screen=needs_screen(asked),
        )
        self._put(question, via="chat")
        return question

    # -- internals --------------------------------------------------------------------------------
    def _take_video(self, label: str, source: str, now_s: float) -> bool:
        active = self._active
        if active is None or active.track == label:
            self._active = _ActiveVideo(label, source, now_s)
            return True
        stale = now_s - active.last_seen_s > STALE_VIDEO_S
        if stale or (source == SCREEN_SHARE and active.source != SCREEN_SHARE):
            if self.notice is not None:
                self.notice(f"video: now sampling {label} (was {active.track})")
            self._active = _ActiveVideo(label, source, now_s)
            return True
        return False

    def _put(self, event: AudioChunk | Question, *, via: str | None = None) -> None:
        if isinstance(event, AudioChunk):
            self.stats.audio_chunks += 1
            if self.recorder is not None:
                self.recorder.audio(event)
        self._queue.put((event, via) if via else event)

    def _work(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=max(self.flush_every_s / 4, 0.05))
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if item is not None:
                self._handle(item)
            pending = self.driver.pending_rows()
            waited = time.monotonic() - last_flush
            if pending >= FLUSH_ROWS or (pending and waited >= self.flush_every_s):
                self._checkpoint()
                last_flush = time.monotonic()
        try:
            before = len(self.pipeline.transcript)
            self.pipeline.finish()  # utterances still open when the session ended
            self._after_audio(before)
        except Exception as exc:  # recorded in the run's error
            self._failed(exc)
        self._checkpoint()

    def _handle(self, item: object) -> None:
        via = "voice"
        if isinstance(item, tuple):
            item, via = item
        try:
            if isinstance(item, VideoFrame):
                with self._lock:
                    self._video_backlog -= 1
                self.pipeline.handle(item)
                self._reached_s = max(self._reached_s, item.t_s)
            elif isinstance(item, AudioChunk):
                before = len(self.pipeline.transcript)
                self.pipeline.handle(item)
                self._reached_s = max(self._reached_s, item.t_s + item.duration_s)
                self._events_done += 1
                self._after_audio(before)
                return
            elif isinstance(item, Question):
                self._answer(item, via)
                return
            self._events_done += 1
        except Exception as exc:  # one bad event must not end the meeting
            self._events_done += 1
            self._failed(exc)

    def _after_audio(self, before: int) -> None:
        """Questions addressed to the assistant among the utterances just transcribed."""
        transcript = self.pipeline.transcript
        for utterance in list(transcript[before:]):
            if utterance.participant == ASSISTANT_IDENTITY:
                continue
            asked = self.wake.addressed(utterance.text)
            if asked is None:
                continue
            question = Question(
                id=f"voice-{next(self._voice_ids):04d}",
                t_s=max(utterance.end_s, self._reached_s),
                asker=utterance.participant,
                text=asked,
                needs_screen=needs_screen(asked),
            )
            # the question is not its own context: out of the transcript while it is answered
            # (an extractive answerer would quote it), back in as a turn of the conversation
            index = transcript.index(utterance)
            del transcript[index]
            try:
                self._answer(question, "voice")
            finally:
                transcript.insert(index, utterance)

    def _answer(self, question: Question, via: str) -> None:
        self.stats.questions += 1
        self._reached_s = max(self._reached_s, question.t_s)
        record = self.pipeline.handle(question)
        if via == "chat":
            self._events_done += 1
        if record is None:  # pragma: no cover - handle() always answers a Question
            return
        answered = LiveAnswer(question, record, via)
        if self.recorder is not None:
            self.recorder.question(question, answered.text, via)
        self.turns.items.append((question, answered.text))
        if self.history:
            if via == "chat":  # spoken questions are in the transcript already
                self.pipeline.transcript.append(
                    Utterance(question.asker, question.t_s, question.t_s, question.text)
                )
            said = _CITATION.sub("", record.answer or "").strip()
            if said:
                self.pipeline.transcript.append(
                    Utterance(ASSISTANT_IDENTITY, question.t_s, question.t_s, said)
                )
        if self.on_answer is not None:
            try:
                self.on_answer(answered)
            except Exception:  # posting failed; the answer is in the ledger
                log.exception("posting the answer to %s failed", question.id)
        self.stats.answers += 1
        self._checkpoint()

    def _checkpoint(self) -> None:
        try:  # the answers' projected costs, counted once they are out
            self.pipeline.settle()
        except Exception as exc:  # a projection must not keep the measured rows from the sink
            self._failed(exc)
        try:
            self.driver.checkpoint(self._events_done, self._reached_s)
            self.stats.checkpoints += 1
        except WorkbenchError as exc:  # e.g. the spool folder cannot be written: keep the rows
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self.stats.event_errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.exception("live session %s: %s", self.run_id, self.stats.last_error)
