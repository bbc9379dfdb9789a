"""LiveSession with real LiveKit frames (no server): the tiny session's screen as I420
``rtc.VideoFrame``s and its audio as 20 ms ``rtc.AudioFrame``s, its questions as chat messages,
through the live handlers into a real DuckDB ledger; compared with a replay of the same media."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest
from support.ledger import held_by_another_process

from assistant.core.config import Config
from assistant.core.errors import TenancyError, WorkbenchError
from assistant.core.events import AudioChunk, Question
from assistant.core.tenancy import tenant_from_room
from assistant.ledger import Ledger
from assistant.ledger.spool import ingest, spool_dir
from assistant.livekit.publish import I420Frame, PublishSource, audio_frames, rtc_video_frame
from assistant.pipeline.stages import build_stages, make_stages
from assistant.sessions.datasets import Dataset, load_dataset
from assistant.sessions.live import (
    CAMERA,
    SCREEN_SHARE,
    LiveAnswer,
    LiveSession,
)
from assistant.sessions.replay import replay
from assistant.sessions.sources.livekit import MediaClock
from assistant.sessions.sources.recorded import available_at
from assistant.sessions.wake import WakePhrases, needs_screen

rtc = pytest.importorskip("livekit.rtc")


def recorded_config() -> Config:
    config = Config().with_threshold(0.5)
    return dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider="recorded:"))


class Now:
    """A hand-moved clock: media time is whatever the driver says it is."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def drive(session: LiveSession, dataset: Dataset, now: Now, *, questions: bool = True) -> None:
    """Play the dataset into the session's handlers as a room would deliver it, as rtc objects."""
    for event in PublishSource(dataset).events():
        if isinstance(event, I420Frame):
            now.t = event.t_s
            session.on_video(dataset.screen_participant, "TR_screen", rtc_video_frame(event))
        elif isinstance(event, AudioChunk):
            start = event.t_s
            for frame in audio_frames(event):
                start += frame.duration
                now.t = start  # a frame arrives once it has been heard
                session.on_audio(event.participant, frame)
        elif isinstance(event, Question) and questions:
            now.t = available_at(event)
            session.on_chat(event.asker, event.text)


def new_session(
    dataset: Dataset, ledger: Path | str, now: Now, answers: list[LiveAnswer], **kw: object
) -> LiveSession:
    config = recorded_config()
    stages = make_stages(config, dataset)
    session = LiveSession(
        ledger=ledger,
        config=config,
        stages=stages,
        tenant=dataset.tenant,
        room=dataset.room,
        source_ref=f"tenant_{dataset.tenant}_{dataset.room}",
        names={p.identity: p.name for p in dataset.participants},
        on_answer=answers.append,
        clock=MediaClock(now=now, start=0.0),
        max_video_backlog=100_000,
        **kw,  # type: ignore[arg-type]
    )
    session.start()
    return session


def rows(path: Path, sql: str, *params: object) -> list[tuple]:
    with Ledger(path) as ledger:
        return [tuple(r) for r in ledger.cursor().execute(sql, list(params)).fetchall()]


def test_live_session_writes_the_rows_a_replay_writes(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    live_path, replay_path = tmp_path / "live.duckdb", tmp_path / "replay.duckdb"
    now, answers = Now(), []
    session = new_session(dataset, live_path, now, answers, run_id="live-1")
    drive(session, dataset, now)
    session.close()
    replay(dataset, ledger=str(replay_path), config=recorded_config(), run_id="replay-1")

    assert session.stats.frames_dropped == 0 and session.stats.frames_ignored == 0
    assert session.stats.frames_in == 80  # 8 s at 10 FPS
    run = rows(live_path, "SELECT source_kind, source_ref, tenant, room, status FROM runs")
    assert run == [("livekit", "tenant_acme_standup", "acme", "standup", "finished")]

    def contents(path: Path, run_id: str) -> dict[str, object]:
        return {
            "utterances": rows(
                path,
                "SELECT participant, text FROM utterances WHERE run_id = ? ORDER BY start_s",
                run_id,
            ),
            "frame_tracks": rows(
                path, "SELECT DISTINCT track, width, height FROM frames WHERE run_id = ?", run_id
            ),
            "questions": rows(
                path,
                "SELECT asker, question, needs_screen FROM requests WHERE run_id = ? "
                "ORDER BY media_t_s",
                run_id,
            ),
            "call_stages": rows(
                path, "SELECT DISTINCT stage FROM calls WHERE run_id = ? ORDER BY 1", run_id
            ),
        }

    live, recorded = contents(live_path, "live-1"), contents(replay_path, "replay-1")
    assert live == recorded
    assert len(live["utterances"]) == 3  # type: ignore[arg-type]
    assert live["frame_tracks"] == [("alice:screen", 640, 360)]
    # kept frames: the fixed 1 FPS sampler keeps about one a second in both runs
    live_frames = rows(live_path, "SELECT count(*) FROM frames")[0][0]
    replay_frames = rows(replay_path, "SELECT count(*) FROM frames")[0][0]
    assert 8 <= live_frames <= 11 and abs(live_frames - replay_frames) <= 1
    # chat questions were answered through the callback, in order, and the answers are the rows'
    assert [a.question.text for a in answers] == [q.text for q in dataset.questions]
    assert all(a.via == "chat" for a in answers)
    stored = rows(live_path, "SELECT question_id, answer FROM requests ORDER BY media_t_s")
    assert [(a.question.id, a.text) for a in answers] == stored
    assert "March 14" in answers[0].text  # from bob's utterance in the transcript
    assert "2.1%" in answers[1].text  # read off the slide (OCR of a kept I420 frame)
    assert "15 minutes" in answers[2].text  # the knowledge base
    # a checkpoint per question, and the run's progress is recorded
    done = rows(live_path, "SELECT events_done, media_processed_s FROM runs")[0]
    assert done[0] > 80 and done[1] == pytest.approx(8.0, abs=0.2)


def test_voice_question_addressed_to_the_assistant_and_history(tiny: Path, tmp_path: Path) -> None:
    transcript = tiny / "truth" / "transcript.jsonl"
    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    lines[2]["text"] = "Assistant, what is the launch date?"  # alice at 4.5-6.0 s
    transcript.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    dataset = load_dataset(tiny)
    path, now, answers = tmp_path / "live.duckdb", Now(), []
    session = new_session(dataset, path, now, answers, run_id="voice")
    drive(session, dataset, now, questions=False)
    # later chat questions see the conversation so far: the assistant's answers are turns of it
    session.on_chat("bob", "What churn rate is on the slide?")
    session.on_chat("alice", "What did the assistant say about churn?")
    session.close()

    assert [(a.via, a.question.asker, a.question.text) for a in answers] == [
        ("voice", "alice", "What is the launch date?"),
        ("chat", "bob", "What churn rate is on the slide?"),
        ("chat", "alice", "What did the assistant say about churn?"),
    ]
    assert "March 14" in answers[0].text  # bob said it; the question itself is not quoted
    assert "2.1%" in answers[1].text  # read off the screen
    assert "2.1%" in answers[2].text  # no screen read this time: quoted from the history
    requests = rows(
        path, "SELECT question_id, asker, needs_screen FROM requests ORDER BY media_t_s"
    )
    assert requests == [
        ("voice-0001", "alice", False),
        ("chat-0001", "bob", True),
        ("chat-0002", "alice", False),
    ]
    cited = json.loads(
        rows(path, "SELECT citations_json FROM requests WHERE question_id = 'chat-0002'")[0][0]
    )
    assert cited[0]["source"].startswith("transcript:assistant@"), cited
    assert len(session.turns.items) == 3


def test_frames_dropped_while_the_worker_is_busy_never_audio_or_questions(
    tiny: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(tiny)
    now, posted = Now(), []
    release, busy = threading.Event(), threading.Event()

    def slow_post(answer: LiveAnswer) -> None:
        posted.append(answer)
        busy.set()
        release.wait(timeout=30)  # the worker is stuck posting: the queue backs up

    config = recorded_config()
    session = LiveSession(
        ledger=tmp_path / "live.duckdb",
        config=config,
        stages=make_stages(config, dataset),
        tenant="acme",
        room="standup",
        on_answer=slow_post,
        clock=MediaClock(now=now, start=0.0),
        max_video_backlog=3,
        run_id="busy",
    )
    session.start()
    session.on_chat("alice", "What is the Pro plan price?")
    assert busy.wait(timeout=60)
    frames = [e for e in PublishSource(dataset).events() if isinstance(e, I420Frame)][:10]
    chunks = [e for e in PublishSource(dataset).events() if isinstance(e, AudioChunk)][:20]
    for frame in frames:
        now.t = frame.t_s
        session.on_video("alice", "TR_screen", rtc_video_frame(frame))
    queued_audio = sum(session.on_audio(c.participant, f) for c in chunks for f in audio_frames(c))
    session.on_chat("bob", "What does the Pro plan cost per seat?")
    assert session.stats.frames_dropped == 7  # 10 offered, 3 fit in the backlog
    release.set()
    session.close()
    assert queued_audio > 0 and session.stats.audio_chunks >= queued_audio
    assert [a.question.text for a in posted] == [
        "What is the Pro plan price?",
        "What does the Pro plan cost per seat?",
    ]
    assert rows(tmp_path / "live.duckdb", "SELECT count(*) FROM requests") == [(2,)]


def test_screen_share_wins_over_camera(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    now = Now()
    config = recorded_config()
    session = LiveSession(
        ledger=tmp_path / "live.duckdb",
        config=config,
        stages=make_stages(config, dataset),
        tenant="acme",
        room="standup",
        clock=MediaClock(now=now, start=0.0),
        max_video_backlog=1000,
    )
    session.start()
    frames = [e for e in PublishSource(dataset).events() if isinstance(e, I420Frame)][:30]
    for i, frame in enumerate(frames):
        now.t = frame.t_s
        session.on_video("bob", "TR_cam", rtc_video_frame(frame), source=CAMERA)
        if i >= 10:  # alice starts sharing her screen after a second
            session.on_video("alice", "TR_screen", rtc_video_frame(frame), source=SCREEN_SHARE)
    session.end_video("alice", SCREEN_SHARE)
    now.t = 5.0
    assert session.on_video("bob", "TR_cam", rtc_video_frame(frames[-1]), source=CAMERA)
    session.close()
    tracks = rows(tmp_path / "live.duckdb", "SELECT DISTINCT track FROM frames ORDER BY 1")
    assert tracks == [("alice:screen",), ("bob:camera",)]
    assert session.stats.frames_ignored == 19  # bob's camera from the frame after alice began


def test_a_session_whose_ledger_is_held_spools_its_rows(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    path, now, answers = tmp_path / "held.duckdb", Now(), []
    Ledger(path).close()  # the file exists, with its schema
    notices: list[str] = []
    with held_by_another_process(path):
        session = new_session(dataset, path, now, answers, run_id="spooled", notice=notices.append)
        session.on_chat("alice", "Within how many minutes must on-call acknowledge a page?")
        session.close()
        assert session.sink.spooled_segments >= 2  # the run row, the question's checkpoint, ...
        assert list(spool_dir(str(path)).glob("*"))
    assert any("Spooling" in n for n in notices)
    assert "15 minutes" in answers[0].text
    with Ledger(path) as ledger:  # whoever holds the file next ingests the segments
        ingest(ledger)
        got = ledger.cursor().execute("SELECT status, source_kind FROM runs").fetchall()
        asked = ledger.cursor().execute("SELECT question FROM requests").fetchall()
    assert [tuple(r) for r in got] == [("finished", "livekit")]
    assert [tuple(r) for r in asked] == [
        ("Within how many minutes must on-call acknowledge a page?",)
    ]


def test_close_marks_interrupted_and_a_closed_session_takes_nothing(
    tiny: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(tiny)
    now, answers = Now(), []
    session = new_session(dataset, tmp_path / "l.duckdb", now, answers, run_id="stop")
    session.close(status="interrupted", error="stopped by SIGTERM")
    assert session.on_chat("alice", "Anyone there?") is None
    assert rows(tmp_path / "l.duckdb", "SELECT status, error FROM runs") == [
        ("interrupted", "stopped by SIGTERM")
    ]


# -- wake phrases and needs_screen ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("Assistant, what is the launch date?", "What is the launch date?"),
        ("hey assistant what did Bob say about churn", "What did Bob say about churn"),
        ("OK Nova: summarise the slide", "Summarise the slide"),
        ("  Hey, Nova, who owns churn?", "Who owns churn?"),
        ("@assistant list the action items", "List the action items"),
        ("Assistant what is on the screen", "What is on the screen"),
        ("assistant: the Q3 numbers please", "The Q3 numbers please"),
    ],
)
def test_addressed_questions(text: str, question: str) -> None:
    wake = WakePhrases.for_agent("Nova")
    assert wake.addressed(text) == question


@pytest.mark.parametrize(
    "text",
    [
        "Assistant managers met on Monday.",  # a sentence that starts with the word
        "The assistant said March 14.",  # not at the start
        "Assistants are useful, what do you think?",  # another word
        "Assistant?",  # nothing asked
        "hey Bob, what is the date?",  # someone else
        "",
    ],
)
def test_not_addressed(text: str) -> None:
    assert WakePhrases.for_agent("Nova").addressed(text) is None


def test_chat_questions_and_needs_screen() -> None:
    wake = WakePhrases()
    assert wake.chat_question("what is the launch date?") == "what is the launch date?"
    assert wake.chat_question("Assistant, what is the date?") == "What is the date?"
    assert wake.chat_question("   ") is None
    strict = WakePhrases(chat_needs_name=True)
    assert strict.chat_question("lunch at noon?") is None
    assert strict.chat_question("assistant, when is lunch?") == "When is lunch?"
    assert needs_screen("What churn rate is on the slide?")
    assert needs_screen("What does the chart show?")
    assert not needs_screen("What is the launch date?")
    with pytest.raises(ValueError, match="at least one name"):
        WakePhrases(names=(" ",))


# -- the tenant from room metadata ------------------------------------------------------------------
def test_tenant_from_room_metadata() -> None:
    meta = json.dumps({"tenant_id": "acme", "custom": {}})
    assert tenant_from_room("tenant_acme_standup", meta) == ("acme", None)
    assert tenant_from_room("tenant_acme_standup", meta, expected="acme")[0] == "acme"
    tenant, warning = tenant_from_room("tenant_acme_standup", "")
    assert tenant == "acme" and warning is not None and "no tenant metadata" in warning
    with pytest.raises(TenancyError, match="metadata names"):
        tenant_from_room("tenant_acme_standup", json.dumps({"tenant_id": "globex"}))
    with pytest.raises(TenancyError, match="not 'globex'"):
        tenant_from_room("tenant_acme_standup", meta, expected="globex")
    assert tenant_from_room("standup", meta) == ("acme", None)  # metadata alone is enough
    with pytest.raises(WorkbenchError, match="cannot tell the tenant"):
        tenant_from_room("standup", "not json")


def test_stages_build_without_media(tmp_path: Path) -> None:
    from assistant.sessions.datasets import Document

    stages = build_stages(
        Config(),
        tenant="acme",
        documents=(Document("oncall.md", "# On-call\n\nAcknowledge a page within 15 minutes.\n"),),
    )
    hits = stages.knowledge.search("acknowledge a page", tenant="acme")
    assert hits and "15 minutes" in hits[0].text
