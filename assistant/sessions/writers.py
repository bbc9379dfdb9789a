"""What every dataset writer shares (format: datasets/README.md): the manifest's text, a streaming
16 kHz mono FLAC writer on the session's clock, and identities from names.

Used by ``importing`` (a recording a user already has) and ``recording`` (a live room).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.sessions.media import STT_SAMPLE_RATE

AUDIO_RATE = STT_SAMPLE_RATE  # what every transcriber reads; keeps a long session small


def identity_of(name: str) -> str:
    """A participant identity from a file or display name: lower case, [a-z0-9_-]."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return slug[:64] or "speaker"


def toml_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string or number is a TOML one


def manifest_text(*, header: str, name: str, title: str, tenant: str, room: str,
                  duration_s: float, screen: str, sharer: str, people: Sequence[str],
                  table: str, entries: Sequence[str]) -> str:
    """A format-1 manifest; ``table`` (e.g. ``imported``) holds ``entries`` (``key = value``
    lines) saying how the folder was made."""
    lines = [
        f"# {header}",
        "format = 1",
        f"name = {toml_value(name)}",
        f"title = {toml_value(title)}",
        f"tenant = {toml_value(tenant)}",
        f"room = {toml_value(room)}",
        f"duration_s = {round(duration_s, 3)}",
        'questions = "questions.jsonl"',
        'knowledge = "knowledge"',
        "",
        "[screen]",
        f"file = {toml_value(screen)}",
        f"participant = {toml_value(sharer)}",
    ]
    for identity in people:
        lines += ["", "[[participants]]", f"identity = {toml_value(identity)}",
                  f"name = {toml_value(identity)}", f'audio = "audio/{identity}.flac"']
    lines += ["", f"[{table}]", *entries]
    return "\n".join(lines) + "\n"


def replace_text(path: Path, text: str) -> None:
    """Write ``path`` so that a reader (or a kill) sees the old text or the new, never half: a
    temporary file beside it, with the old file's mode (a 0640 file stays 0640), fsynced, then
    renamed over it; the folder is fsynced so the rename survives a power cut."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None  # a new file: the umask decides, as for any other
    try:
        with temp.open("w", encoding="utf-8") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic
    finally:
        os.close(folder)


class FlacWriter:
    """One mono 16 kHz FLAC file written frame by frame, counted in samples from session time 0.

    ``flush=True`` hands every FLAC frame to the OS as it is encoded (``flush_packets``), so a
    killed process leaves all but the last fraction of a second on disk."""

    def __init__(self, dest: Path, *, flush: bool = False, total: int | None = None) -> None:
        import av  # heavy: imported where used

        self._av = av
        self.dest = dest
        self.total = total  # samples; nothing is written past it
        self.written = 0
        self._out = av.open(str(dest), "w", format="flac",
                            options={"flush_packets": "1"} if flush else {})
        self._stream = self._out.add_stream("flac", rate=AUDIO_RATE, layout="mono")

    def put(self, samples: np.ndarray) -> None:
        if self.total is not None:
            samples = samples[: max(self.total - self.written, 0)]
        if not len(samples):
            return
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.rate, frame.pts = AUDIO_RATE, self.written
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        self.written += len(samples)

    def silence_until(self, sample: int) -> None:
        end = sample if self.total is None else min(sample, self.total)
        while self.written < end:
            self.put(np.zeros(min(end - self.written, AUDIO_RATE * 10), np.int16))

    def close(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
        finally:
            self._out.close()

