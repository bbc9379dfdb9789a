"""A replay's progress file, both sides: the replay command writes it, the jobs read it back.

One JSON object a line, appended at most every 0.5 s::

    {"run_id": "...", "media_s": 12.5, "duration_s": 248.6, "status": "running"}

``status`` is ``running`` while the replay goes, and a last line says ``finished``, ``failed`` or
``interrupted``. A reader may meet a line half-written: it takes the last complete one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

WRITE_EVERY_S = 0.5


class ProgressFile:
    """Progress of a replay as JSON lines, for a monitor in another process (the Replay page).

    Lines are appended at most every 0.5 s: ``{"run_id", "media_s", "duration_s", "status"}``
    with status ``running`` and a last line ``finished``, ``failed`` or ``interrupted``.
    """

    def __init__(self, path: str, duration_s: float) -> None:
        self.path = Path(path)
        self.duration_s = duration_s
        self.run_id: str | None = None
        self.media_s = 0.0
        self._last_write = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def started(self, run_id: str) -> None:
        self.run_id = run_id
        self._write("running")

    def update(self, media_s: float) -> None:
        self.media_s = max(self.media_s, media_s)
        now = time.monotonic()
        if now - self._last_write >= WRITE_EVERY_S:
            self._last_write = now
            self._write("running")

    def close(self, status: str) -> None:
        self._write(status)

    def _write(self, status: str) -> None:
        line = {
            "run_id": self.run_id,
            "media_s": round(self.media_s, 3),
            "duration_s": self.duration_s,
            "status": status,
        }
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


@dataclass(frozen=True, slots=True)
class Progress:
    """The last line of a step's progress file; ``status`` ``pending`` before the step starts,
    ``starting`` while the replay loads (no line yet)."""

    run_id: str | None
    media_s: float
    duration_s: float | None
    status: str

    @property
    def fraction(self) -> float:
        if self.status == "finished":
            return 1.0
        if not self.duration_s:
            return 0.0
        return max(0.0, min(1.0, self.media_s / self.duration_s))


def read_progress(path: str | Path) -> Progress | None:
    """The last complete line of a progress file, or None when there is none yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    for line in reversed(text.splitlines()):
        try:
            data = json.loads(line)
            return Progress(
                run_id=data.get("run_id"),
                media_s=float(data.get("media_s") or 0.0),
                duration_s=float(data["duration_s"]) if data.get("duration_s") else None,
                status=str(data.get("status") or "running"),
            )
        except (ValueError, TypeError, AttributeError):
            continue  # a line being written
    return None
