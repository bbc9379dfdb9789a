"""The live agent: ``python -m assistant.agent connect|dev|start``.

``connect --room R --tenant T`` joins one of the tenant's rooms directly with the LiveKit rtc SDK
(a token minted by ``assistant.livekit.admin``), checks the tenant in the room's metadata, and runs one
``LiveSession`` (one run in the ledger, ``source_kind = 'livekit'``) for as long as it stays:

- it subscribes to every screen share, camera and microphone track (``rtc.VideoStream`` in I420,
  so the sampler reads the Y plane in place; ``rtc.AudioStream`` at 16 kHz mono, so LiveKit
  resamples) and feeds the session from one reader task per track;
- chat messages arrive as text streams on topic ``lk.chat`` (LiveKit's chat components) or as
  legacy data packets on ``lk-chat-topic``; answers are posted with ``send_text`` on ``lk.chat``;
- the SDK resumes a dropped connection by itself (``reconnecting`` / ``reconnected``); when the
  connection is lost for good, the agent joins again with a new token, backing off
  (1 s, 2 s, 4 s … 30 s, ``--max-retries``), and the same run goes on;
- ``--record DIR`` (``WORKBENCH_RECORD_DIR`` for the worker) also writes the room as a dataset
  folder, one per session under ``DIR`` (``sessions/recording.py``), complete once the session ends;
- SIGINT or SIGTERM disconnect, transcribe what is still open, write the last checkpoint and mark
  the run ``interrupted``; a room that is deleted or closed ends it as ``finished``.

``dev`` and ``start`` run the same session as a LiveKit Agents worker (``livekit.worker``): the
server dispatches rooms to workers, each job in its own process, so rooms spread over machines.
Every job writes the ledger through ``PathSink`` (the file is opened per checkpoint only and rows
are spooled when the workbench holds it), so any number of workers share one ledger file safely.
Worker settings come from the environment (``LIVEKIT_URL``, ``LIVEKIT_API_KEY``,
``LIVEKIT_API_SECRET``; ``WORKBENCH_LEDGER``, ``WORKBENCH_AGENT_CONFIG``,
``WORKBENCH_KNOWLEDGE``, ``WORKBENCH_AGENT_NAME``, ``WORKBENCH_RECORD_DIR``); other arguments go to the LiveKit Agents CLI
(``python -m assistant.agent start --help``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.errors import RoomError
from assistant.core.tenancy import tenant_from_room, validate_tenant_id
from assistant.sessions.live import (
    CAMERA,
    SCREEN_SHARE,
    LiveAnswer,
    LiveSession,
    live_stages,
)
from assistant.sessions.wake import WakePhrases

if TYPE_CHECKING:
    from livekit import rtc

    from assistant.core.config import Config
    from assistant.sessions.datasets import Document
    from assistant.sessions.recording import RoomRecorder

log = logging.getLogger("assistant.agent")

CHAT_TOPIC = "lk.chat"  # LiveKit's chat components: text streams on this topic
LEGACY_CHAT_TOPIC = "lk-chat-topic"  # older components: JSON data packets {"message": ...}
DEFAULT_IDENTITY = "assistant"
DEFAULT_NAME = "Assistant"
AGENTS_HINT = (
    "`dev` and `start` run a LiveKit Agents worker: pip install livekit-agents==1.3.11 "
    "(in requirements.txt); `connect` needs only the livekit package"
)
# a disconnection for one of these reasons ends the session: the room is gone or we are not wanted
FINAL_REASONS = frozenset(
    {"CLIENT_INITIATED", "ROOM_DELETED", "ROOM_CLOSED", "PARTICIPANT_REMOVED", "DUPLICATE_IDENTITY"}
)


# -- settings -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AgentOptions:
    """What a session needs besides the room: where to write, how to answer, who it is."""

    ledger: str
    config: Config
    identity: str = DEFAULT_IDENTITY
    name: str = DEFAULT_NAME
    wake: WakePhrases = field(default_factory=WakePhrases)
    knowledge: Path | None = None  # the tenant's documents (a folder, or a folder of tenants)
    record: Path | None = None  # record each session as a dataset folder under this folder


def load_knowledge(folder: Path | None, tenant: str) -> tuple[Document, ...]:
    """The tenant's documents: ``folder/<tenant>/`` when it exists, else ``folder`` itself."""
    if folder is None:
        return ()
    from assistant.sessions.datasets import load_documents

    own = folder / tenant
    return load_documents(own if own.is_dir() else folder)


def options_from_env(environ: dict[str, str] | None = None) -> AgentOptions:
    """The worker's options: ``WORKBENCH_LEDGER``, ``WORKBENCH_AGENT_CONFIG`` (TOML),
    ``WORKBENCH_KNOWLEDGE`` (folder), ``WORKBENCH_AGENT_NAME``, ``WORKBENCH_CHAT_NEEDS_NAME``,
    ``WORKBENCH_RECORD_DIR`` (folder)."""
    from assistant.core.config import load_config

    env = os.environ if environ is None else environ
    name = env.get("WORKBENCH_AGENT_NAME", DEFAULT_NAME)
    knowledge = env.get("WORKBENCH_KNOWLEDGE")
    record = env.get("WORKBENCH_RECORD_DIR")
    return AgentOptions(
        ledger=env.get("WORKBENCH_LEDGER", "workbench.duckdb"),
        config=load_config(env.get("WORKBENCH_AGENT_CONFIG") or None),
        name=name,
        wake=WakePhrases(
            names=WakePhrases.for_agent(name).names,
            chat_needs_name=env.get("WORKBENCH_CHAT_NEEDS_NAME", "") not in ("", "0", "false"),
        ),
        knowledge=Path(knowledge) if knowledge else None,
        record=Path(record) if record else None,
    )


def session_recorder(
    options: AgentOptions, *, tenant: str, room: str, documents: tuple[Document, ...]
) -> RoomRecorder | None:
    """The recorder of one session when ``options.record`` is set: a new folder under it."""
    if options.record is None:
        return None
    from assistant.sessions.recording import RecordOptions, RoomRecorder, record_folder

    folder = record_folder(options.record, tenant, room)
    return RoomRecorder(RecordOptions(folder=folder, tenant=tenant, room=room, documents=documents))


def build_session(
    options: AgentOptions,
    *,
    tenant: str,
    room_name: str,
    notice: Callable[[str], None] | None = None,
) -> LiveSession:
    """A started ``LiveSession`` for one room (models loaded; call from a worker thread)."""
    from assistant.core.tenancy import parse_room_name

    tenant = validate_tenant_id(tenant)
    parsed = parse_room_name(room_name)
    bare = parsed[1] if parsed else room_name
    documents = load_knowledge(options.knowledge, tenant)
    stages = live_stages(options.config, tenant=tenant, documents=documents, notice=notice)
    session = LiveSession(
        ledger=options.ledger,
        config=options.config,
        stages=stages,
        tenant=tenant,
        room=bare,
        source_ref=room_name,
        wake=options.wake,
        notice=notice,
        assistant_name=options.name,
        recorder=session_recorder(options, tenant=tenant, room=bare, documents=documents),
    )
    session.start()
    if session.recorder is not None and notice is not None:
        notice(f"recording {room_name} to {session.recorder.folder}")
    return session


# -- one room -------------------------------------------------------------------------------------
def video_source_of(source: int) -> str | None:
    """``SCREEN_SHARE`` / ``CAMERA`` for a video track's ``rtc.TrackSource``, None otherwise."""
    from livekit import rtc

    if source == rtc.TrackSource.SOURCE_SCREENSHARE:
        return SCREEN_SHARE
    if source in (rtc.TrackSource.SOURCE_CAMERA, rtc.TrackSource.SOURCE_UNKNOWN):
        return CAMERA
    return None


def legacy_chat_text(payload: bytes) -> str | None:
    """The message of a legacy chat packet (``{"id", "timestamp", "message"}``), or None."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) and message.strip() else None


class RoomAgent:
    """Connects one ``rtc.Room`` to one ``LiveSession``: reader tasks, chat in, answers out.

    ``attach()`` before ``room.connect`` (tracks already published are subscribed right after
    joining); ``detach()`` cancels the readers. A new ``rtc.Room`` after a lost connection gets a
    new ``RoomAgent`` over the same session.
    """

    def __init__(self, room: rtc.Room, session: LiveSession) -> None:
        self.room = room
        self.session = session
        self._tasks: set[asyncio.Task[Any]] = set()
        self._readers: dict[str, asyncio.Task[Any]] = {}
        self.disconnected: asyncio.Future[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.disconnected = self._loop.create_future()
        room = self.room
        room.on("track_subscribed", self._on_track_subscribed)
        room.on("track_unsubscribed", self._on_track_unsubscribed)
        room.on("participant_disconnected", self._on_participant_disconnected)
        room.on("data_received", self._on_data)
        room.on("disconnected", self._on_disconnected)
        room.on("reconnecting", lambda: log.warning("connection to %s lost: resuming", room.name))
        room.on("reconnected", lambda: log.info("connection to %s resumed", room.name))
        room.register_text_stream_handler(CHAT_TOPIC, self._on_text_stream)
        self.session.on_answer = self.post_threadsafe

    async def detach(self) -> None:
        for task in [*self._readers.values(), *self._tasks]:
            task.cancel()
        for task in [*self._readers.values(), *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._readers.clear()
        self._tasks.clear()
        with contextlib.suppress(Exception):
            self.room.unregister_text_stream_handler(CHAT_TOPIC)

    # -- tracks ---------------------------------------------------------------------------------
    def _spawn(self, coro: Any, key: str | None = None) -> None:
        task = asyncio.ensure_future(coro)
        if key is None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._readers[key] = task

    def _on_track_subscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        from livekit import rtc

        if participant.name:  # display names for the transcript and the answers' @mentions
            self.session.pipeline.names[participant.identity] = participant.name
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            source = video_source_of(publication.source)
            if source is not None:
                self._spawn(self._read_video(track, participant.identity, source), track.sid)
        elif (
            track.kind == rtc.TrackKind.KIND_AUDIO
            and publication.source != rtc.TrackSource.SOURCE_SCREENSHARE_AUDIO
        ):
            self._spawn(self._read_audio(track, participant.identity), track.sid)

    def _on_track_unsubscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        task = self._readers.pop(track.sid, None)
        if task is not None:
            task.cancel()

    def _on_participant_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        self.session.end_audio(participant.identity)

    async def _read_video(self, track: rtc.Track, identity: str, source: str) -> None:
        from livekit import rtc

        stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420, capacity=8)
        try:
            async for event in stream:
                self.session.on_video(identity, track.sid, event, source=source)
        finally:
            self.session.end_video(identity, source)
            await stream.aclose()

    async def _read_audio(self, track: rtc.Track, identity: str) -> None:
        from livekit import rtc

        stream = rtc.AudioStream(track, sample_rate=16_000, num_channels=1)
        try:
            async for event in stream:
                self.session.on_audio(identity, event.frame)
        finally:
            self.session.end_audio(identity)
            await stream.aclose()

    # -- chat -------------------------------------------------------------------------------------
    def _on_text_stream(self, reader: rtc.TextStreamReader, participant_identity: str) -> None:
        async def read() -> None:
            text = await reader.read_all()
            self.on_chat(participant_identity, text)

        self._spawn(read())

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic != LEGACY_CHAT_TOPIC or packet.participant is None:
            return
        text = legacy_chat_text(packet.data)
        if text is not None:
            self.on_chat(packet.participant.identity, text)

    def on_chat(self, identity: str, text: str) -> None:
        if identity == self.room.local_participant.identity:
            return
        question = self.session.on_chat(identity, text)
        if question is not None:
            log.info("question %s from %s: %s", question.id, identity, question.text)

    def post_threadsafe(self, answer: LiveAnswer) -> None:
        """``LiveSession.on_answer``: called on the session's worker thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.post(answer), loop)

    async def post(self, answer: LiveAnswer) -> None:
        asker = answer.question.asker
        name = self.session.pipeline.names.get(asker, asker)
        text = answer.text if answer.via == "chat" else f"@{name}: {answer.text}"
        try:
            await self.room.local_participant.send_text(text, topic=CHAT_TOPIC)
        except Exception as exc:  # the answer is in the ledger either way
            log.warning("could not post the answer to %s: %s", answer.question.id, exc)

    def _on_disconnected(self, reason: int) -> None:
        from livekit import rtc

        known: dict[int, str] = {
            int(v): k
            for k, v in zip(rtc.DisconnectReason.keys(), rtc.DisconnectReason.values(), strict=True)
        }
        name = known.get(reason, str(reason))
        if self.disconnected is not None and not self.disconnected.done():
            self.disconnected.set_result(name)


# -- connect: one room, directly ------------------------------------------------------------------
def backoff_s(attempt: int, *, base_s: float = 1.0, cap_s: float = 30.0) -> float:
    """Seconds to wait before join attempt ``attempt`` (1, 2, …): doubling, capped."""
    return min(base_s * 2 ** max(attempt - 1, 0), cap_s)


async def connect(
    *,
    tenant: str,
    room: str,
    options: AgentOptions,
    max_retries: int = 10,
    ttl_s: int = 3600,
    stop: asyncio.Event | None = None,
    notice: Callable[[str], None] | None = None,
) -> str:
    """Join ``room`` of ``tenant`` and serve it until stopped; returns the run id."""
    from livekit import rtc

    from assistant.core.tenancy import TenantContext, resolve_room
    from assistant.livekit.admin import LiveKitSettings
    from assistant.livekit.tokens import mint_token

    say = notice or (lambda message: log.info("%s", message))
    settings = LiveKitSettings.from_env()
    ctx = TenantContext(tenant)
    full = resolve_room(ctx, room)
    stop = stop or asyncio.Event()
    session = await asyncio.to_thread(
        build_session, options, tenant=tenant, room_name=full, notice=say
    )
    status, error = "finished", None
    attempt = 0
    try:
        while not stop.is_set():
            lk_room = rtc.Room()
            agent = RoomAgent(lk_room, session)
            agent.attach()
            token = mint_token(
                settings, ctx, room, identity=options.identity, name=options.name, ttl_s=ttl_s
            )
            try:
                await lk_room.connect(settings.url, token, rtc.RoomOptions(auto_subscribe=True))
            except rtc.ConnectError as exc:
                await agent.detach()
                attempt += 1
                if attempt > max_retries:
                    raise RoomError(
                        f"cannot join {full} at {settings.url} after {max_retries} retries: {exc}"
                    ) from exc
                wait_s = backoff_s(attempt)
                say(f"joining {full} failed ({exc}); retrying in {wait_s:.0f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait_s)
                continue
            if attempt == 0:
                _, warning = tenant_from_room(lk_room.name, lk_room.metadata, expected=tenant)
                if warning:
                    say(warning)
            attempt = 0
            say(f"joined {full} as {options.identity}: run {session.run_id} -> {options.ledger}")
            assert agent.disconnected is not None
            stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
            lost: asyncio.Future[Any] = agent.disconnected
            await asyncio.wait({stopping, lost}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if agent.disconnected.done():
                reason = agent.disconnected.result()
                await agent.detach()
                if reason in FINAL_REASONS:
                    say(f"left {full}: {reason}")
                    break
                attempt = 1
                wait_s = backoff_s(attempt)
                say(f"connection to {full} lost ({reason}); joining again in {wait_s:.0f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait_s)
                continue
            await agent.detach()
            await lk_room.disconnect()
        if stop.is_set():
            status, error = "interrupted", "stopped by a signal"
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
            status, error = "interrupted", "stopped"
        else:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        await session.aclose(status=status, error=error)
        stats = session.stats
        say(
            f"run {session.run_id} {status}: {stats.questions} questions, {stats.answers} answers, "
            f"{stats.frames_in} frames ({stats.frames_dropped} dropped), "
            f"{stats.audio_chunks} audio chunks"
        )
        if session.recorder is not None:
            rec = session.recorder.stats
            say(
                f"recorded {session.recorder.folder}: {rec.video_frames} screen frames "
                f"({rec.video_dropped} dropped), {rec.questions} questions"
            )
    return session.run_id
