"""`python -m assistant import` and `questions`: recordings users have become datasets that load,
carry proposed questions, and replay; bad input is one line, exit 2, and nothing written."""

from __future__ import annotations

import json
import shutil
import tomllib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from support import recordings as rec

from assistant.cli.registry import main
from assistant.core.events import Utterance
from assistant.sessions.datasets import load_dataset, load_questions
from assistant.sessions.proposals import propose, question_in
from assistant.sessions.wake import WakePhrases

ROOT = Path(__file__).resolve().parent.parent
CUT_S = 60.0


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sources")
    rec.mixed_video(folder / "meeting.mp4", seconds=CUT_S)
    rec.track_files(folder / "egress", seconds=CUT_S, clock_s=100.0,
                    starts={"alice": 0.0, "bob": 1.3, "carol": 2.1})
    return folder


@pytest.fixture(scope="module")
def mixed(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed-audio MP4 imported once, with whisper and proposed questions."""
    out = tmp_path_factory.mktemp("imported") / "weekly"
    code = main(["import", str(sources / "meeting.mp4"), "--out", str(out), "--tenant", "acme",
                 "--title", "Weekly review", "--quiet"])
    assert code == 0
    return out


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".importing-" in p.name]


def test_mixed_recording_imports_loads_and_has_proposed_questions(mixed: Path) -> None:
    ds = load_dataset(mixed)
    assert [p.identity for p in ds.participants] == ["room"]
    assert ds.tenant == "acme" and ds.room == "weekly" and ds.title == "Weekly review"
    assert abs(ds.duration_s - CUT_S) < 0.1 and ds.screen.name == "screen.mp4"
    assert ds.transcript is None  # what whisper heard is not ground truth...
    manifest = tomllib.loads((mixed / "manifest.toml").read_text())
    assert manifest["imported"]["transcript"] == "transcript.jsonl"  # ...but it is kept
    lines = (mixed / "transcript.jsonl").read_text().splitlines()
    assert len(lines) >= 5 and not (mixed / "truth").exists()
    assert ds.questions and all(q.proposed and q.reference is None and not q.key_facts
                                for q in ds.questions)
    # the demo's "Latin America is the only region that went down. Carol, why?" ends at 46.2 s
    why = [q for q in ds.questions if "why" in q.text.lower()]
    assert why and abs(why[0].t_s - 46.2) < 1.5
    # the screen was copied, not re-encoded: same packets as the demo's first minute
    with av.open(str(ds.screen)) as a, av.open(str(rec.DEMO / "screen.mp4")) as b:
        assert a.streams.video[0].codec_context.name == b.streams.video[0].codec_context.name
        first = next(p for p in a.demux(video=0) if p.size)
        assert bytes(first) == bytes(next(p for p in b.demux(video=0) if p.size))


def test_imported_recording_replays(mixed: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    ledger = str(tmp_path / "l.duckdb")
    assert main(["replay", str(mixed), "--ledger", ledger, "--run-id", "imp-1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "run imp-1 (finished)" in out


def test_questions_command_appends_only_new_ones(mixed: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ds = Path(shutil.copytree(mixed, tmp_path / "copy"))
    qfile = ds / "questions.jsonl"
    before = qfile.read_text().splitlines()
    assert main(["questions", str(ds), "--write"]) == 0
    assert "nothing new" in capsys.readouterr().out and qfile.read_text().splitlines() == before
    qfile.write_text("# edited\n" + "".join(line + "\n" for line in before[1:]))  # one deleted
    assert main(["questions", str(ds), "--write"]) == 0
    assert "appended 1" in capsys.readouterr().out
    after = qfile.read_text().splitlines()
    assert after[1:-1] == before[1:] and json.loads(after[-1])["text"] == json.loads(before[0])["text"]
    assert len(load_dataset(ds, check_media=False).questions) == len(before)


def test_questions_on_an_authored_dataset_keep_every_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = Path(shutil.copytree(ROOT / "datasets" / "demo", tmp_path / "demo"))
    before = (ds / "questions.jsonl").read_text()
    assert main(["questions", str(ds), "--stt", "recorded", "--write", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "appended" in out and "Can you run the status command" in out
    assert (ds / "questions.jsonl").read_text().startswith(before)
    loaded = load_dataset(ds, check_media=False).questions
    assert sum(not q.proposed for q in loaded) == 20 and any(q.proposed for q in loaded)


def _onset_s(path: Path, after_s: float) -> float:
    samples = rec.voice_file(path)
    loud = np.flatnonzero(np.abs(samples[int(after_s * rec.RATE):].astype(np.int32)) > 1000)
    return after_s + loud[0] / rec.RATE


def test_egress_track_files_are_aligned_on_one_clock(sources: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    egress = sources / "egress"
    out = tmp_path / "egress-import"
    files = [str(egress / "screen.mp4"), str(egress / "alice.mka"),
             f"bob={egress / 'bob.mka'}", str(egress / "carol.ogg")]
    assert main(["import", *files, "--out", str(out), "--no-questions", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "audio/bob.flac  from bob.mka, starts at 1.30 s" in printed
    ds = load_dataset(out)
    assert [p.identity for p in ds.participants] == ["alice", "bob", "carol"]
    assert ds.questions == () and abs(ds.duration_s - CUT_S) < 0.1
    for person in ds.participants:
        said = [json.loads(line) for line in
                (rec.DEMO / "truth" / "transcript.jsonl").read_text().splitlines()]
        first = next(u for u in said if u["speaker"] == person.identity)["start_s"]
        got = _onset_s(person.audio, first - 0.5)
        want = _onset_s(rec.DEMO / "audio" / f"{person.identity}.flac", first - 0.5)
        assert abs(got - want) <= 0.1, (person.identity, got, want)
        assert abs(got - first) <= 0.5
    with av.open(str(ds.screen)) as c:  # the screen starts at session time 0 too
        assert c.streams.video[0].start_time == 0


def test_separate_audio_beside_a_silent_video(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    video = rec.silent_video(tmp_path / "screen.mov", seconds=6.0)
    audio = rec.audio_file(tmp_path / "call.mka", rec.voice("alice", 9.0))
    out = tmp_path / "call"
    assert main(["import", str(video), f"host={audio}", "--out", str(out), "--no-questions",
                 "--quiet"]) == 0
    assert "(re-encoded)" in capsys.readouterr().out  # the screen ends 3 s early: last frame held
    ds = load_dataset(out)
    assert [p.identity for p in ds.participants] == ["host"] and abs(ds.duration_s - 9.0) < 0.1


def _vfr_video(path: Path, times_ms: list[int]) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), i * 20, np.uint8), "rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return path


VFR_MS = [0, 40, 90, 1000, 1033, 3000, 3016, 4000, 5000]  # bursts and long holds


@pytest.mark.parametrize(("suffix", "how"), [(".mp4", "copied"), (".mkv", "re-encoded")])
def test_variable_frame_rate_keeps_every_frame_time(
    suffix: str, how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An MP4 is copied; this Matroska file (one cue, so the loader cannot seek it) is re-encoded,
    frame by frame at the same times. Either way the loader decodes the frames at their pts."""
    from assistant.sessions.media import iter_video

    video = _vfr_video(tmp_path / f"vfr{suffix}", VFR_MS)
    audio = rec.audio_file(tmp_path / "a.mka", rec.voice("bob", 5.0))
    out_dir = tmp_path / "vfr"
    assert main(["import", str(video), str(audio), "--out", str(out_dir), "--no-questions",
                 "--quiet"]) == 0
    assert f"({how})" in capsys.readouterr().out
    ds = load_dataset(out_dir)
    seen = [round(f.t_s * 1000) for f in iter_video(ds.screen)]
    assert seen[: len(VFR_MS)] == VFR_MS and len(seen) <= len(VFR_MS) + 1  # + the held last frame


def _bad(tmp_path: Path, case: str) -> tuple[list[str], str]:
    src = tmp_path / "src"
    src.mkdir()
    if case == "no audio":
        return [str(rec.silent_video(src / "screen.mp4", seconds=3.0))], "has no audio track"
    if case == "no video":
        return [str(rec.audio_file(src / "alice.mka", rec.voice("alice", 3.0)))], "no source has a video"
    if case == "egress missing screen":
        return ([str(rec.audio_file(src / f"{p}.mka", rec.voice(p, 3.0))) for p in ("alice", "bob")],
                "Egress set needs its screen-share")
    if case == "not media":
        (src / "meeting.mp4").write_text("this is not a video\n" * 50)
        return [str(src / "meeting.mp4")], "does not decode"
    if case == "truncated":
        whole = rec.mixed_video(src / "whole.mp4", seconds=3.0).read_bytes()
        (src / "cut.mp4").write_bytes(whole[: len(whole) // 2])
        return [str(src / "cut.mp4")], "cut.mp4"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["no audio", "no video", "egress missing screen", "not media",
                                  "truncated"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, expected = _bad(tmp_path, case)
    out = tmp_path / "out"
    assert main(["import", *argv, "--out", str(out), "--no-questions", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert expected in err and argv[0].split("=")[-1] in err
    assert not out.exists() and not _leftovers(tmp_path)


def test_an_existing_folder_is_never_written(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    video = rec.mixed_video(tmp_path / "m.mp4", seconds=3.0)
    assert main(["import", str(video), "--out", str(out), "--no-questions", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "exists and is not empty" in err and str(out) in err and err.count("\n") == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and not _leftovers(tmp_path)


def test_a_failure_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.sessions import importing

    def broken(*args: object, **kwargs: object) -> None:
        raise importing.DatasetError("x.flac", "disk full", "Free some space")

    monkeypatch.setattr(importing, "write_audio", broken)
    video = rec.mixed_video(tmp_path / "m.mp4", seconds=3.0)
    out = tmp_path / "new"
    assert main(["import", str(video), "--out", str(out), "--no-questions", "--quiet"]) == 2
    assert not out.exists() and not _leftovers(tmp_path)


# -- the proposer and the loader ------------------------------------------------------------------


def test_proposer_finds_addressed_and_direct_questions() -> None:
    wake = WakePhrases()
    assert question_in("Assistant, what did Bob say about churn?", wake) == (
        "addressed", "What did Bob say about churn?")
    assert question_in("Thanks. Which region grew the fastest?", wake) == (
        "direct", "Which region grew the fastest?")
    assert question_in("Latin America went down. Carol, why?", wake) == (
        "direct", "Latin America went down. Carol, why?")
    assert question_in("How we did it was great", wake) is None  # a question word is not enough
    assert question_in("The launch is on Monday.", wake) is None
    assert question_in("Why?", wake) is None
    found = propose([Utterance("bob", 3.0, 5.5, "Is that on the slide?"),
                     Utterance("ann", 1.0, 2.0, "Welcome everyone.")])
    assert [(p.t_s, p.asker, p.needs_screen) for p in found] == [(5.5, "bob", True)]


def test_loader_accepts_proposed_questions_and_guesses_needs_screen(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"id": "p1", "t_s": 2, "asker": "a", "text": "What is on the slide?", "proposed": true}\n'
        '{"id": "p2", "t_s": 3, "asker": "a", "text": "Who owns churn?", "needs_screen": false}\n'
    )
    q1, q2 = load_questions(path, duration_s=10, people={"a"})
    assert q1.proposed and q1.needs_screen and q1.reference is None and q1.key_facts == ()
    assert not q2.proposed and not q2.needs_screen and q2.reference is None
    path.write_text('{"id": "x", "t_s": 2, "asker": "a", "text": "Who owns churn?"}\n')
    with pytest.raises(Exception, match="needs_screen"):  # authored questions still say it
        load_questions(path, duration_s=10, people={"a"})
    path.write_text("# none yet\n")
    with pytest.raises(Exception, match="holds no question"):  # unless the dataset is imported
        load_questions(path, duration_s=10, people={"a"})
    assert load_questions(path, duration_s=10, people={"a"}, allow_empty=True) == ()
