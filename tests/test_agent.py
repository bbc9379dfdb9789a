"""The agent's command line and worker entrypoint, the publisher's frame and audio conversion,
and (only with LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET set) an agent and a publisher
in one real room."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support.ledger import env

from assistant.core.events import AudioChunk, Question
from assistant.ledger import Ledger
from assistant.livekit import agent, command, worker
from assistant.livekit.publish import (
    I420Frame,
    PublishSource,
    audio_frames,
    i420_planes,
    iter_i420,
    rtc_video_frame,
)
from assistant.sessions.datasets import load_dataset
from assistant.sessions.live import CAMERA, SCREEN_SHARE
from assistant.sessions.sources.livekit import video_frame_from_rtc

rtc = pytest.importorskip("livekit.rtc")
ROOT = Path(__file__).resolve().parents[1]
LIVEKIT = all(
    os.environ.get(name) for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
)
needs_server = pytest.mark.skipif(
    not LIVEKIT,
    reason="no LiveKit server: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET "
    "(e.g. `livekit-server --dev`: ws://localhost:7880, devkey, secret) to run this test",
)


# -- command line ---------------------------------------------------------------------------------
def test_connect_arguments() -> None:
    args = command._parser().parse_args(
        [
            "connect",
            "--room",
            "standup",
            "--tenant",
            "acme",
            "--ledger",
            "x.duckdb",
            "--wake",
            "Nova",
            "--name",
            "Helper",
            "--stt",
            "recorded",
            "--threshold",
            "0.7",
            "--chat-needs-name",
        ]
    )
    options = command.options_from_args(args)
    assert (args.room, args.tenant, options.ledger) == ("standup", "acme", "x.duckdb")
    assert options.config.stt.provider == "recorded:"
    assert options.config.routing.threshold == 0.7
    assert set(options.wake.names) == {"assistant", "Nova", "Helper"}
    assert options.wake.chat_needs_name
    assert options.wake.addressed("Helper, what is the date?") == "What is the date?"
    with pytest.raises(SystemExit):
        command._parser().parse_args(["connect", "--room", "standup"])  # --tenant is required


def test_connect_without_livekit_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    saved = {
        k: os.environ.pop(k, None) for k in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
    }
    try:
        assert command.main(["connect", "--room", "standup", "--tenant", "acme"]) == 2
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    err = capsys.readouterr().err
    assert "LIVEKIT_URL" in err and "devkey" in err


def test_worker_entrypoint_is_importable_and_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from livekit.agents import WorkerOptions

    options = worker.worker_options()
    assert isinstance(options, WorkerOptions)
    assert options.entrypoint_fnc is worker.job
    monkeypatch.setenv("WORKBENCH_LEDGER", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("WORKBENCH_AGENT_NAME", "Nova")
    monkeypatch.setenv("WORKBENCH_CHAT_NEEDS_NAME", "1")
    from_env = agent.options_from_env()
    assert from_env.ledger == str(tmp_path / "w.duckdb")
    assert "Nova" in from_env.wake.names and from_env.wake.chat_needs_name
    # `start --help` reaches the LiveKit Agents CLI (in a subprocess: it exits the interpreter)
    out = subprocess.run(
        [sys.executable, "-m", "assistant.agent", "start", "--help"],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0 and "LIVEKIT_URL" in out.stdout


def test_chat_packets_and_track_sources() -> None:
    payload = json.dumps({"id": "1", "timestamp": 0, "message": "what is the date?"}).encode()
    assert agent.legacy_chat_text(payload) == "what is the date?"
    assert agent.legacy_chat_text(b"\xff not json") is None
    assert agent.legacy_chat_text(json.dumps({"message": "  "}).encode()) is None
    assert agent.video_source_of(rtc.TrackSource.SOURCE_SCREENSHARE) == SCREEN_SHARE
    assert agent.video_source_of(rtc.TrackSource.SOURCE_CAMERA) == CAMERA
    assert agent.video_source_of(rtc.TrackSource.SOURCE_MICROPHONE) is None
    assert [agent.backoff_s(n) for n in (1, 2, 3, 6, 20)] == [1.0, 2.0, 4.0, 30.0, 30.0]


def test_sigterm_while_joining_ends_the_run_interrupted(tmp_path: Path) -> None:
    """No server listens: the agent keeps retrying the join, and SIGTERM ends it cleanly."""
    ledger = tmp_path / "a.duckdb"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assistant.agent",
            "connect",
            "--room",
            "standup",
            "--tenant",
            "acme",
            "--ledger",
            str(ledger),
            "--max-retries",
            "50",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={
            **env(),
            "LIVEKIT_URL": "ws://127.0.0.1:9",
            "LIVEKIT_API_KEY": "devkey",
            "LIVEKIT_API_SECRET": "secret",
        },
    )
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "retrying in" in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(seen) + (rest or "")
    with Ledger(ledger) as held:
        runs = (
            held.cursor().execute("SELECT source_kind, tenant, room, status FROM runs").fetchall()
        )
    assert [tuple(r) for r in runs] == [("livekit", "acme", "standup", "interrupted")]


# -- the publisher's conversions ------------------------------------------------------------------
def test_dataset_frames_as_i420_rtc_frames(tiny: Path) -> None:
    dataset = load_dataset(tiny)
    frames = list(iter_i420(dataset.screen, track="alice:screen"))
    assert len(frames) == 80
    assert [f.t_s for f in frames[:3]] == pytest.approx([0.0, 0.1, 0.2])
    frame = frames[45]  # the churn slide
    lk = rtc_video_frame(frame)
    assert (lk.width, lk.height, lk.type) == (640, 360, rtc.VideoBufferType.I420)
    assert len(lk.data) == 640 * 360 * 3 // 2
    # the agent's side reads back the same luminance, and the same picture after conversion
    back = video_frame_from_rtc(lk, track="alice:screen", t_s=frame.t_s)
    assert np.array_equal(back.luma, frame.luma)
    diff = np.abs(back.to_rgb().astype(int) - frame.to_rgb().astype(int))
    assert diff.mean() < 3  # libyuv's and FFmpeg's YUV->RGB differ by rounding only


def test_i420_planes_of_odd_sizes() -> None:
    import av

    rgb = np.zeros((35, 51, 3), np.uint8)
    rgb[:, :25] = 255
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    data = i420_planes(frame)
    assert len(data) == 51 * 35 + 2 * (26 * 18)
    lk = rtc.VideoFrame(51, 35, rtc.VideoBufferType.I420, data.tobytes())
    assert lk.convert(rtc.VideoBufferType.RGBA).width == 51


@pytest.mark.parametrize("frame_ms", [10, 20])
def test_audio_chunks_as_rtc_frames(frame_ms: int) -> None:
    samples = (np.arange(8000) % 200 - 100).astype(np.int16)  # 0.5 s at 16 kHz
    frames = audio_frames(AudioChunk("alice", 1.0, samples), frame_ms=frame_ms)
    assert len(frames) == 500 // frame_ms
    assert {(f.sample_rate, f.num_channels, f.samples_per_channel) for f in frames} == {
        (16_000, 1, 16 * frame_ms)
    }
    joined = np.concatenate([np.frombuffer(f.data, np.int16) for f in frames])
    assert np.array_equal(joined, samples)
    with pytest.raises(ValueError, match="10 or 20 ms"):
        audio_frames(AudioChunk("alice", 0.0, samples), frame_ms=30)


def test_publish_source_orders_the_session(tiny: Path) -> None:
    events = list(PublishSource(load_dataset(tiny)).events())
    kinds = {type(e) for e in events}
    assert kinds == {I420Frame, AudioChunk, Question}
    times = [e.t_s + (e.duration_s if isinstance(e, AudioChunk) else 0) for e in events]
    assert times == sorted(times)
    assert [e.id for e in events if isinstance(e, Question)] == ["q1", "q2", "q3"]
    assert {e.participant for e in events if isinstance(e, AudioChunk)} == {"alice", "bob"}


# -- a real room ------------------------------------------------------------------------------------
@needs_server
def test_agent_and_publisher_in_one_room(tiny: Path, tmp_path: Path) -> None:
    """The publisher plays the tiny session into a room; the agent answers its chat questions
    and records the room (``--record``) as a dataset that loads with the same questions."""
    from assistant.core.config import Config
    from assistant.livekit.admin import LiveKitSettings
    from assistant.livekit.publish import publish

    settings = LiveKitSettings.from_env()
    dataset = load_dataset(tiny)
    room = f"it-{int(time.time())}"
    ledger = tmp_path / "live.duckdb"
    options = agent.AgentOptions(
        ledger=str(ledger), config=Config(), knowledge=tiny / "knowledge", record=tmp_path / "rec"
    )

    async def scenario() -> str:
        stop = asyncio.Event()
        serving = asyncio.ensure_future(
            agent.connect(tenant="acme", room=room, options=options, stop=stop, max_retries=2)
        )
        await asyncio.sleep(8)  # models loaded, joined
        counts = await publish(dataset, tenant="acme", room=room, settings=settings)
        await asyncio.sleep(5)  # the last answers
        stop.set()
        assert counts["questions"] == 3 and counts["frames"] > 0
        return await serving

    run_id = asyncio.run(scenario())
    with Ledger(ledger) as held:
        cur = held.cursor()
        status = cur.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchall()
        asked = cur.execute("SELECT count(*) FROM requests WHERE run_id = ?", [run_id]).fetchall()
        frames = cur.execute("SELECT count(*) FROM frames WHERE run_id = ?", [run_id]).fetchall()
    assert status[0][0] == "interrupted"  # stopped by us
    assert asked[0][0] == 3 and frames[0][0] > 0
    (folder,) = (tmp_path / "rec").iterdir()
    recorded = load_dataset(folder)
    assert (recorded.tenant, recorded.room) == ("acme", room)
    assert [q.text for q in recorded.questions] == [q.text for q in dataset.questions]
    assert recorded.screen_participant == dataset.screen_participant
    assert {"alice", "bob"} <= {p.identity for p in recorded.participants}


def test_worker_entrypoint_runs_a_session_for_the_dispatched_room(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny: Path
) -> None:
    """The job's wiring, with a real (unconnected) rtc.Room: tenant from the dispatched room's
    metadata, a session in the ledger, chat answered, the run closed by the shutdown callback."""
    from livekit.protocol.agent import Job
    from livekit.protocol.models import Room

    ledger = tmp_path / "worker.duckdb"
    monkeypatch.setenv("WORKBENCH_LEDGER", str(ledger))
    monkeypatch.setenv("WORKBENCH_KNOWLEDGE", str(tiny / "knowledge"))
    monkeypatch.setenv("WORKBENCH_RECORD_DIR", str(tmp_path / "rec"))
    metadata = json.dumps({"tenant_id": "acme", "custom": {}})

    class JobContext:  # the parts of livekit.agents.JobContext the entrypoint uses
        def __init__(self) -> None:
            self.job = Job(room=Room(name="tenant_acme_standup", metadata=metadata))
            self.room = rtc.Room()
            self.shutdown: list = []
            self.connected = False

        def add_shutdown_callback(self, callback) -> None:  # type: ignore[no-untyped-def]
            self.shutdown.append(callback)

        async def connect(self, **_: object) -> None:
            self.connected = True

    async def job() -> tuple[JobContext, list]:
        ctx = JobContext()
        serving = await worker.entrypoint(ctx)
        assert ctx.connected and len(ctx.shutdown) == 1
        assert serving.room is ctx.room and serving.session.tenant == "acme"
        posted: list = []
        serving.session.on_answer = posted.append  # no room to post to: keep the answer
        serving.session.on_chat("bob", "Within how many minutes must on-call acknowledge a page?")
        await ctx.shutdown[0]()
        return ctx, posted

    _, posted = asyncio.run(job())
    assert "15 minutes" in posted[0].text
    with Ledger(ledger) as held:
        runs = (
            held.cursor()
            .execute("SELECT source_kind, source_ref, tenant, status FROM runs")
            .fetchall()
        )
    assert [tuple(r) for r in runs] == [("livekit", "tenant_acme_standup", "acme", "finished")]
    (folder,) = (tmp_path / "rec").iterdir()  # WORKBENCH_RECORD_DIR: the job's room recorded
    recorded = load_dataset(folder)
    assert [(q.asker, q.id) for q in recorded.questions] == [("bob", "chat-0001")]
    assert recorded.tenant == "acme" and recorded.room == "standup"
