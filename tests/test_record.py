"""Recording a live room as a dataset (sessions/recording.py): a LiveSession driven with real
``livekit.rtc`` frames (the tiny session, as tests/test_live_session.py does) writes a folder that
``load_dataset`` accepts and ``replay`` replays with the same questions; a folder left by a kill
loads up to its last whole second or is refused with one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from support.configs import recorded_config
from support.ledger import ROOT, env

from assistant.core.errors import DatasetError
from assistant.core.events import AudioChunk
from assistant.ledger import Ledger
from assistant.livekit.publish import I420Frame, PublishSource, audio_frames, rtc_video_frame
from assistant.pipeline.stages import make_stages
from assistant.sessions.datasets import Dataset, load_dataset
from assistant.sessions.live import LiveAnswer, LiveSession
from assistant.sessions.recording import RecordOptions, RoomRecorder
from assistant.sessions.replay import replay
from assistant.sessions.sources.livekit import MediaClock
from assistant.sessions.sources.recorded import RecordedSource, available_at

rtc = pytest.importorskip("livekit.rtc")


class Now:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def drive(session: LiveSession, dataset: Dataset, now: Now) -> None:
    for event in PublishSource(dataset).events():
        if isinstance(event, I420Frame):
            now.t = event.t_s
            session.on_video(dataset.screen_participant, "TR_screen", rtc_video_frame(event))
        elif isinstance(event, AudioChunk):
            start = event.t_s
            for frame in audio_frames(event):
                start += frame.duration
                now.t = start
                session.on_audio(event.participant, frame)
        else:
            now.t = available_at(event)
            session.on_chat(event.asker, event.text)


def record_live(dataset: Dataset, tmp_path: Path, **kw: object) -> tuple[LiveSession, Path]:
    config = recorded_config()
    now, answers = Now(), list[LiveAnswer]()
    folder = tmp_path / "recorded"
    recorder = RoomRecorder(
        RecordOptions(folder=folder, tenant=dataset.tenant, room=dataset.room,
                      documents=dataset.documents, **kw)  # type: ignore[arg-type]
    )
    session = LiveSession(
        ledger=tmp_path / "live.duckdb", config=config, stages=make_stages(config, dataset),
        tenant=dataset.tenant, room=dataset.room, on_answer=answers.append,
        clock=MediaClock(now=now, start=0.0), max_video_backlog=100_000, run_id="live-rec",
        recorder=recorder,
    )
    session.start()
    drive(session, dataset, now)
    session.close()
    return session, folder


def questions_of(path: Path, run_id: str) -> list[tuple]:
    with Ledger(path) as ledger:
        return [tuple(r) for r in ledger.cursor().execute(
            "SELECT asker, question, needs_screen FROM requests WHERE run_id = ? "
            "ORDER BY media_t_s", [run_id]).fetchall()]


def with_truth(folder: Path, source: Path) -> None:
    """Add the session's ground-truth transcript, as a user labelling the recording would, so
    that the replay can use the instant ``recorded:`` transcriber."""
    (folder / "truth").mkdir()
    shutil.copy(source / "truth" / "transcript.jsonl", folder / "truth" / "transcript.jsonl")
    manifest = folder / "manifest.toml"
    manifest.write_text(manifest.read_text() + '\n[ground_truth]\ntranscript = '
                        '"truth/transcript.jsonl"\n')


def test_a_recorded_live_session_loads_and_replays_with_the_same_questions(
    tiny: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(tiny)
    session, folder = record_live(dataset, tmp_path, max_video_queue=1000)  # 8 s in a burst
    stats = session.recorder.stats  # type: ignore[union-attr]
    assert stats.video_dropped == 0 and stats.errors == 0 and stats.video_frames >= 80
    manifest = tomllib.loads((folder / "manifest.toml").read_text())
    assert manifest["recorded"]["complete"] is True
    assert manifest["recorded"]["run_id"] == "live-rec"

    recorded = load_dataset(folder)
    assert not recorded.interrupted
    assert (recorded.tenant, recorded.room) == (dataset.tenant, dataset.room)
    assert recorded.duration_s == pytest.approx(dataset.duration_s, abs=0.3)
    assert recorded.screen_participant == dataset.screen_participant
    assert recorded.screen_fps == pytest.approx(10, abs=1)  # the rate the frames arrived at
    assert {p.identity for p in recorded.participants} == {p.identity for p in dataset.participants}
    assert {d.doc_id for d in recorded.documents} == {d.doc_id for d in dataset.documents}
    assert [(q.asker, q.text) for q in recorded.questions] == [
        (q.asker, q.text) for q in dataset.questions
    ]
    lines = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    assert all(line["proposed"] is False and line["via"] == "chat" for line in lines)
    stored = questions_of(tmp_path / "live.duckdb", "live-rec")
    with Ledger(tmp_path / "live.duckdb") as ledger:
        answers = [r[0] for r in ledger.cursor().execute(
            "SELECT answer FROM requests ORDER BY media_t_s").fetchall()]
    assert [line["answer"] for line in lines] == answers
    assert "March 14" in lines[0]["answer"]

    # the audio is on the session clock: the ground truth's utterances are heard where they were
    with_truth(folder, tiny)
    replayed = load_dataset(folder)
    replay(replayed, ledger=str(tmp_path / "replay.duckdb"), config=recorded_config(),
           run_id="replay-rec")
    assert questions_of(tmp_path / "replay.duckdb", "replay-rec") == stored
    with Ledger(tmp_path / "replay.duckdb") as ledger:
        said = ledger.cursor().execute("SELECT count(*) FROM utterances").fetchone()
        again = [r[0] for r in ledger.cursor().execute(
            "SELECT answer FROM requests ORDER BY media_t_s").fetchall()]
    assert said == (3,)
    assert "2.1%" in again[1]  # read off the recorded screen


def interrupt(folder: Path) -> None:
    """What a kill leaves in the manifest: ``complete = false``."""
    manifest = folder / "manifest.toml"
    manifest.write_text(manifest.read_text().replace("complete = true", "complete = false"))


def events_of(dataset: Dataset) -> list[object]:
    return list(RecordedSource(dataset).events())


def test_truncated_files_load_up_to_the_last_whole_second_or_are_refused_in_one_line(
    tiny: Path, tmp_path: Path
) -> None:
    _, master = record_live(load_dataset(tiny), tmp_path, max_video_queue=1000)
    outcomes = []
    for i, cut in enumerate((0.02, 0.35, 0.6, 0.85, 0.97)):
        folder = Path(shutil.copytree(master, tmp_path / f"cut{i}"))
        interrupt(folder)
        for path in [folder / "screen.mp4", *sorted((folder / "audio").glob("*.flac"))]:
            data = path.read_bytes()
            path.write_bytes(data[: max(int(len(data) * cut), 1)])
        lines = (folder / "questions.jsonl").read_bytes()
        (folder / "questions.jsonl").write_bytes(lines[: len(lines) - 7])  # a torn last line
        try:
            dataset = load_dataset(folder)
        except DatasetError as exc:
            message = str(exc)
            assert "\n" not in message and "interrupted" in message, message
            outcomes.append(None)
            continue
        assert dataset.interrupted and dataset.duration_s >= 1
        assert dataset.duration_s == int(dataset.duration_s)
        assert all(q.t_s <= dataset.duration_s for q in dataset.questions)
        events = events_of(dataset)  # the replay's source reads to the end without an error
        assert events and max(available_at(e) for e in events) <= dataset.duration_s + 1  # type: ignore[arg-type]
        published = list(PublishSource(dataset).events())  # and so does the publisher's
        assert published and max(available_at(e) for e in published) <= dataset.duration_s + 1  # type: ignore[arg-type]
        outcomes.append(dataset.duration_s)
    assert outcomes[0] is None  # not one second survived: refused
    # bytes are not seconds: silence compresses to almost nothing, so a cut at 97% of the
    # bytes loses the silent tail of a file
    assert outcomes[-1] is not None and outcomes[-1] >= 3
    assert [o for o in outcomes if o is not None] == sorted(o for o in outcomes if o is not None)


_RECORD_SCRIPT = r"""
import sys, time
from pathlib import Path
from assistant.core.events import AudioChunk
from assistant.livekit.publish import I420Frame, PublishSource, audio_frames, rtc_video_frame
from assistant.sessions.datasets import load_dataset
from assistant.sessions.recording import RoomRecorder, RecordOptions
from assistant.sessions.sources.livekit import LiveAudio, MediaClock

dataset = load_dataset(sys.argv[1])
recorder = RoomRecorder(RecordOptions(folder=Path(sys.argv[2]), tenant="acme", room="standup"))
clock = MediaClock()
recorder.start(now=clock.now_s)
events = list(PublishSource(dataset).events())
audio = {}
for lap in range(100):  # the tiny session again and again, in real time, until killed
    base = lap * dataset.duration_s
    for event in events:
        t = base + getattr(event, "t_s", 0.0)
        wait = t - clock.now_s()
        if wait > 0:
            time.sleep(wait)
        if isinstance(event, I420Frame):
            recorder.video("alice", rtc_video_frame(event), clock.now_s())
        elif isinstance(event, AudioChunk):
            live = audio.setdefault(event.participant, LiveAudio(event.participant, clock=clock))
            for frame in audio_frames(event):
                for chunk in live.push(frame, t_s=base + event.t_s):
                    recorder.audio(chunk)
    print(f"lap {lap}", flush=True)
"""


def test_a_recording_killed_with_sigkill_loads_up_to_its_last_whole_second(
    tiny: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", _RECORD_SCRIPT, str(tiny), str(folder)],
                            stdout=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("lap 0")
        time.sleep(3.5)  # into the second lap: something is half-written
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert tomllib.loads((folder / "manifest.toml").read_text())["recorded"]["complete"] is False
    dataset = load_dataset(folder)
    assert dataset.interrupted and dataset.duration_s >= 8
    assert {p.identity for p in dataset.participants} == {"alice", "bob"}
    events = events_of(dataset)
    assert sum(isinstance(e, AudioChunk) for e in events) > 0


def test_video_is_dropped_when_the_encoder_is_behind_never_audio_or_questions(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = RoomRecorder._encode

    def encode(self: RoomRecorder, *args: object) -> None:
        time.sleep(0.05)
        slow(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(RoomRecorder, "_encode", encode)
    session, folder = record_live(load_dataset(tiny), tmp_path, max_video_queue=3)
    stats = session.recorder.stats  # type: ignore[union-attr]
    assert stats.video_dropped > 0 and stats.video_frames + stats.video_dropped >= 80
    assert stats.questions == 3 and stats.audio_late_s == 0
    recorded = load_dataset(folder)
    assert len(recorded.questions) == 3
    manifest = tomllib.loads((folder / "manifest.toml").read_text())
    assert manifest["recorded"]["video_dropped"] == stats.video_dropped


def test_the_agent_records_with_record_dir_and_the_worker_environment(tmp_path: Path) -> None:
    from assistant.livekit.agent import options_from_env, session_recorder
    from assistant.livekit.command import _parser, options_from_args

    args = _parser().parse_args(
        ["connect", "--room", "standup", "--tenant", "acme", "--record", str(tmp_path)]
    )
    assert options_from_args(args).record == tmp_path
    options = options_from_env({"WORKBENCH_RECORD_DIR": str(tmp_path / "rooms")})
    assert options.record == tmp_path / "rooms"
    recorder = session_recorder(options, tenant="acme", room="standup", documents=())
    assert recorder is not None and recorder.folder.parent == tmp_path / "rooms"
    assert recorder.folder.name.startswith("acme_standup_")
    assert session_recorder(options_from_env({}), tenant="acme", room="x", documents=()) is None


def test_sigterm_to_the_agent_leaves_a_complete_recording(tmp_path: Path) -> None:
    """The real command line (no server listens: it keeps retrying the join): SIGTERM closes
    the session, and the recording is complete and loads."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.agent", "connect", "--room", "standup", "--tenant",
         "acme", "--ledger", str(tmp_path / "a.duckdb"), "--max-retries", "50",
         "--record", str(tmp_path / "rec")],
        stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**env(), "LIVEKIT_URL": "ws://127.0.0.1:9", "LIVEKIT_API_KEY": "devkey",
             "LIVEKIT_API_SECRET": "secret"},
    )
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "retrying in" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    said = "".join(seen) + (rest or "")
    assert proc.returncode == 0, said
    (folder,) = (tmp_path / "rec").iterdir()
    assert f"recording tenant_acme_standup to {folder}" in said, said
    assert f"recorded {folder}" in said, said
    assert tomllib.loads((folder / "manifest.toml").read_text())["recorded"]["complete"] is True
    recorded = load_dataset(folder)  # nobody came: a black screen, one silent track, no question
    assert (recorded.tenant, recorded.room, recorded.questions) == ("acme", "standup", ())
    assert not recorded.interrupted and recorded.duration_s >= 1


@pytest.mark.parametrize("size", [(64, 36), (33, 17)])
def test_screen_frames_go_to_the_encoder_as_their_own_i420_planes(size: tuple[int, int]) -> None:
    import numpy as np

    from assistant.sessions.recording import i420_to_av

    width, height = size
    cw, ch = (width + 1) // 2, (height + 1) // 2
    rng = np.random.default_rng(1)
    y = rng.integers(16, 235, (height, width), np.uint8)
    u, v = np.full(cw * ch, 90, np.uint8), np.full(cw * ch, 160, np.uint8)
    frame = rtc.VideoFrame(width, height, rtc.VideoBufferType.I420,
                           np.concatenate([y.reshape(-1), u, v]).tobytes())
    picture = i420_to_av(frame)
    even_w, even_h = width - width % 2, height - height % 2
    assert (picture.format.name, picture.width, picture.height) == ("yuv420p", even_w, even_h)
    planes = picture.to_ndarray()  # yuv420p as (h * 3 / 2, w): Y, then U and V
    assert (planes[:even_h] == y[:even_h, :even_w]).all()
    assert set(planes[even_h:].reshape(-1)) == {90, 160}
    with pytest.raises(ValueError, match="I420"):
        i420_to_av(frame.convert(rtc.VideoBufferType.RGBA))
