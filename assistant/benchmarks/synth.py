"""Inputs the benchmarks generate from the demo, cached between runs (``harness.cache_dir()``).

- ``looped_session(loops)``: the demo played ``loops`` times end to end, written as a dataset
  (datasets/README.md): the screen remuxed (no re-encode), each voice re-encoded to FLAC, the
  questions, transcript and screen changes repeated with their times shifted, the knowledge base
  copied. 15 loops of the 248.6 s demo are a 62-minute meeting with 300 questions.
- ``clip_1080p(start_s, seconds)``: a stretch of the demo's screen scaled to 1920x1080 and encoded
  as H.264 (yuv420p), for the sampler's 1080p figure.

Each is keyed by its parameters and a digest of the demo's files, built in a scratch folder and
renamed into place, so an interrupted build never leaves a half-written input behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from assistant.benchmarks.harness import cache_dir
from assistant.core.paths import DEMO_DATASET as DEMO


def _digest(root: Path) -> str:
    """Content key of a dataset folder: its small files' bytes and its media files' sizes."""
    h = hashlib.blake2b(digest_size=6)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        if path.suffix in (".mp4", ".flac", ".wav", ".mkv", ".webm", ".ogg", ".mp3", ".mov"):
            h.update(str(path.stat().st_size).encode())
        else:
            h.update(path.read_bytes())
    return h.hexdigest()


def _cached(name: str, build: Callable[[Path], None]) -> Path:
    """``cache_dir()/name``, built by ``build(scratch)`` on first use."""
    target = cache_dir() / name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        build(scratch)
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        if not target.exists():
            raise
    return target


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def looped_session(loops: int, *, cut_s: float | None = None, source: Path = DEMO) -> Path:
    """The dataset folder of ``source`` (its first ``cut_s`` seconds, if given) played ``loops``
    times (built once, then cached)."""
    from assistant.sessions.datasets import load_dataset

    if loops < 1:
        raise ValueError(f"loops must be at least 1, not {loops}")
    demo = load_dataset(source, check_media=False)
    d = _cut_point(demo.screen, cut_s) if cut_s else demo.duration_s
    d = min(d, demo.duration_s)
    cut = f"-{d:g}s" if cut_s else ""
    name = f"{demo.name}{cut}-x{loops}-{_digest(source)}"

    def build(out: Path) -> None:
        (out / "audio").mkdir(parents=True)
        (out / "truth").mkdir()
        shutil.copytree(source / "knowledge", out / "knowledge")
        _loop_video(demo.screen, out / "screen.mp4", loops, d)
        for p in demo.participants:
            _loop_audio(p.audio, out / "audio" / f"{p.identity}.flac", loops, d)
        questions = []
        for k in range(loops):
            for q in (q for q in demo.questions if q.t_s <= d):
                row: dict[str, Any] = {
                    "id": f"{q.id}-{k:03d}",
                    "t_s": round(q.t_s + k * d, 3),
                    "asker": q.asker,
                    "text": q.text,
                    "reference": q.reference,
                    "key_facts": list(q.key_facts),
                    "needs_screen": q.needs_screen,
                }
                if q.source:
                    row["source"] = q.source
                if q.difficulty:
                    row["difficulty"] = q.difficulty
                questions.append(json.dumps(row))
        (out / "questions.jsonl").write_text("\n".join(questions) + "\n", encoding="utf-8")
        truth = []
        if demo.transcript:
            lines = [
                json.dumps(
                    {
                        "speaker": u.participant,
                        "start_s": round(u.start_s + k * d, 3),
                        "end_s": round(u.end_s + k * d, 3),
                        "text": u.text,
                    }
                )
                for k in range(loops)
                for u in demo.transcript
                if u.end_s <= d
            ]
            (out / "truth" / "transcript.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
            truth.append('transcript = "truth/transcript.jsonl"')
        if demo.screen_changes:
            lines = [
                json.dumps(
                    {"t_s": round(c.t_s + k * d, 3), "kind": c.kind, "label": f"{c.label} ({k})"}
                )
                for k in range(loops)
                for c in demo.screen_changes
                if c.t_s < d
            ]
            (out / "truth" / "screen_changes.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
            truth.append('screen_changes = "truth/screen_changes.jsonl"')
        people = "\n".join(
            f"[[participants]]\nidentity = {_toml_string(p.identity)}\n"
            f"name = {_toml_string(p.name)}\naudio = \"audio/{p.identity}.flac\"\n"
            for p in demo.participants
        )
        manifest = (
            "# Generated by assistant/benchmarks/synth.py: the demo looped for benchmarks.\n"
            "format = 1\n"
            f'name = "{demo.name}{cut.replace(".", "_")}-x{loops}"\n'
            f"title = {_toml_string(f'{demo.title} (x{loops})')}\n"
            f"tenant = {_toml_string(demo.tenant)}\n"
            f"room = {_toml_string(demo.room)}\n"
            f"duration_s = {round(loops * d, 3)}\n"
            'questions = "questions.jsonl"\n'
            'knowledge = "knowledge"\n\n'
            f'[screen]\nfile = "screen.mp4"\nparticipant = {_toml_string(demo.screen_participant)}\n\n'
            f"{people}\n" + ("[ground_truth]\n" + "\n".join(truth) + "\n" if truth else "")
        )
        (out / "manifest.toml").write_text(manifest, encoding="utf-8")

    return _cached(name, build)


def _cut_point(video: Path, seconds: float) -> float:
    """The time of the first keyframe at or after ``seconds`` (a loop ends cleanly before it)."""
    import av

    with av.open(str(video)) as inp:
        ist = inp.streams.video[0]
        for packet in inp.demux(ist):
            if packet.is_keyframe and packet.pts is not None:
                t = float(packet.pts * (ist.time_base or Fraction(1, 90_000)))
                if t >= seconds:
                    return round(t, 3)
    return float("inf")


def _loop_video(src: Path, dst: Path, loops: int, seconds: float) -> None:
    """``src`` up to the keyframe at ``seconds`` (or whole) repeated ``loops`` times: packets
    copied with shifted timestamps, no re-encode."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        end = round(seconds / (ist.time_base or Fraction(1, 90_000)))  # next loop's keyframe
        span = 0  # one loop's length in the stream's time base
        for packet in inp.demux(ist):
            if packet.pts is not None and packet.duration and packet.pts < end:
                span = max(span, packet.pts + packet.duration)
        span = min(span, end)
        for k in range(loops):
            inp.seek(0, stream=ist)
            for packet in inp.demux(ist):
                if packet.dts is None and packet.pts is None:
                    continue  # the demuxer's end-of-stream marker
                if packet.is_keyframe and packet.pts is not None and packet.pts >= end:
                    break
                if packet.pts is not None:
                    packet.pts += k * span
                if packet.dts is not None:
                    packet.dts += k * span
                packet.stream = ost
                out.mux(packet)


def _loop_audio(src: Path, dst: Path, loops: int, seconds: float) -> None:
    """The first ``seconds`` of ``src`` repeated ``loops`` times as mono FLAC at its own rate
    (fast: ~100x real time)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ist = inp.streams.audio[0]
        rate = int(ist.codec_context.sample_rate)
        ost = out.add_stream("flac", rate=rate)
        ost.layout = "mono"
        ost.options = {"compression_level": "0"}
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        samples = 0
        per_loop = round(seconds * rate)
        for _ in range(loops):
            inp.seek(0)
            taken = 0
            for frame in inp.decode(ist):
                for mono in resampler.resample(frame):
                    if taken >= per_loop:
                        break
                    if taken + mono.samples > per_loop:  # the loop ends inside this frame
                        data = mono.to_ndarray()[:, : per_loop - taken]
                        mono = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
                        mono.sample_rate = rate
                    mono.pts = samples
                    samples += mono.samples
                    taken += mono.samples
                    for packet in ost.encode(mono):
                        out.mux(packet)
        for packet in ost.encode():
            out.mux(packet)


def clip_1080p(start_s: float, seconds: float, *, source: Path = DEMO) -> Path:
    """``seconds`` of the demo's screen from ``start_s``, scaled to 1920x1080, H.264 yuv420p."""
    name = f"screen-1080p-{start_s:g}-{seconds:g}-{_digest(source)}"

    def build(out: Path) -> None:
        import av

        with av.open(str(source / "screen.mp4")) as inp, av.open(
            str(out / "screen.mp4"), "w"
        ) as container:
            ist = inp.streams.video[0]
            ist.thread_type = "AUTO"
            fps = round(float(ist.average_rate or 30))
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
            stream.time_base = Fraction(1, fps)
            stream.options = {"preset": "ultrafast", "crf": "20"}
            base = ist.time_base or Fraction(1, 90_000)
            inp.seek(int(max(0.0, start_s - 2) / base), stream=ist, backward=True)
            n = 0
            for frame in inp.decode(ist):
                if frame.time is None or frame.time < start_s:
                    continue
                if n >= seconds * fps:
                    break
                scaled = frame.reformat(width=1920, height=1080, format="yuv420p")
                scaled.pts, scaled.time_base = n, Fraction(1, fps)
                n += 1
                for packet in stream.encode(scaled):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    return _cached(name, build) / "screen.mp4"
