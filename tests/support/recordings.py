"""Recordings as users have them, built with PyAV from datasets/demo (for the import tests).

``mixed_video``: the demo's screen and the three voices mixed into one audio track, in one file.
``track_files``: LiveKit-track-egress-like files, each starting at its own time on one clock.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "datasets" / "demo"
RATE = 16_000
PEOPLE = ("alice", "bob", "carol")


def voice(identity: str, seconds: float) -> np.ndarray:
    """The demo participant's first ``seconds`` of audio, int16 mono at 16 kHz."""
    with av.open(str(DEMO / "audio" / f"{identity}.flac")) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        parts = [r.to_ndarray().reshape(-1) for f in c.decode(audio=0) for r in resampler.resample(f)]
    return np.concatenate(parts)[: int(seconds * RATE)]


def _copy_screen(out: av.container.OutputContainer, seconds: float, start_s: float,
                 *, audio: tuple[np.ndarray, str] | None = None) -> None:
    """Copy the demo's screen; ``audio`` (samples, codec) is added as a second stream (every
    stream must exist before the first packet is written)."""
    with av.open(str(DEMO / "screen.mp4")) as inp:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        astream = _audio_stream(out, audio[1]) if audio else None
        shift = round(start_s / ist.time_base)
        for packet in inp.demux(ist):
            if packet.dts is None or packet.pts is None:
                continue
            if packet.pts * ist.time_base >= seconds:
                break
            packet.pts += shift
            packet.dts += shift
            packet.stream = ost
            out.mux(packet)
        if audio is not None and astream is not None:
            _encode_audio(out, astream, audio[0], audio[1])


def _audio_stream(out: av.container.OutputContainer, codec: str) -> av.AudioStream:
    stream = out.add_stream(codec, rate=RATE, layout="mono")
    stream.time_base = Fraction(1, RATE)
    return stream


def _add_audio(out: av.container.OutputContainer, samples: np.ndarray, codec: str,
               start_s: float = 0.0) -> None:
    _encode_audio(out, _audio_stream(out, codec), samples, codec, start_s)


def _encode_audio(out: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray,
                  codec: str, start_s: float = 0.0) -> None:
    fmt = "fltp" if codec == "aac" else "s16"
    step = 1024
    first = round(start_s * RATE)
    for i in range(0, len(samples), step):
        block = samples[i : i + step]
        data = block.astype(np.float32) / 32768 if fmt == "fltp" else block
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=fmt, layout="mono")
        frame.rate, frame.pts, frame.time_base = RATE, first + i, Fraction(1, RATE)
        for p in stream.encode(frame):
            out.mux(p)
    for p in stream.encode(None):
        out.mux(p)


def mixed_video(dest: Path, *, seconds: float) -> Path:
    """One MP4: the screen and the three voices mixed (a meeting tool's recording)."""
    mix = sum(voice(p, seconds).astype(np.int32) for p in PEOPLE)
    mixed = np.clip(mix, -32768, 32767).astype(np.int16)
    with av.open(str(dest), "w") as out:
        _copy_screen(out, seconds, 0.0, audio=(mixed, "aac"))
    return dest


def silent_video(dest: Path, *, seconds: float, start_s: float = 0.0) -> Path:
    with av.open(str(dest), "w") as out:
        _copy_screen(out, seconds, start_s)
    return dest


def audio_file(dest: Path, samples: np.ndarray, *, start_s: float = 0.0) -> Path:
    """Audio only, its first packet at ``start_s``: ``.ogg`` is Opus at 48 kHz (what LiveKit track
    egress writes), anything else Matroska with FLAC (lossless)."""
    if dest.suffix != ".ogg":
        with av.open(str(dest), "w", format="matroska") as out:
            _add_audio(out, samples, "flac", start_s)
        return dest
    with av.open(str(dest), "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48_000, layout="mono")
        stream.time_base = Fraction(1, 48_000)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.rate, frame.time_base, frame.pts = RATE, Fraction(1, RATE), round(start_s * RATE)
        for resampled in resampler.resample(frame):
            for p in stream.encode(resampled):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return dest


def track_files(folder: Path, *, seconds: float, clock_s: float,
                starts: dict[str, float]) -> list[Path]:
    """Egress-like files: the screen from ``clock_s`` and each voice from ``clock_s + start``
    (holding the demo's audio from that session time on)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [silent_video(folder / "screen.mp4", seconds=seconds, start_s=clock_s)]
    for identity, start in starts.items():
        samples = voice(identity, seconds)[int(start * RATE) :]
        suffix = ".ogg" if identity == "carol" else ".mka"  # both kinds of track file
        files.append(audio_file(folder / f"{identity}{suffix}", samples, start_s=clock_s + start))
    return files


def voice_file(path: Path) -> np.ndarray:
    """Any audio file as int16 mono 16 kHz samples (for checking an import)."""
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        parts = [r.to_ndarray().reshape(-1) for f in c.decode(audio=0) for r in resampler.resample(f)]
    return np.concatenate(parts)
