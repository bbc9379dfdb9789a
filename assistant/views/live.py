"""Read-side helpers for the Replay and Live room pages (no Streamlit import: testable alone).

Every ledger read goes through :func:`assistant.views.result.reading`, like the other pages. A
replay writing the ledger may hold the DuckDB file (``LedgerLockedError``); the helpers then answer
with a calm "waiting" view (:data:`WAITING`, error kind LOCKED) instead of an error, and the page
tries again on its next refresh.

Kept frames are recorded without their pixels: :func:`thumbnails` decodes the frames at their
media times from the dataset's screen video (the run's ``source_ref``), small.
"""

from __future__ import annotations

import io
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.errors import LedgerError, WorkbenchError
from assistant.core.money import format_usd
from assistant.core.paths import DATASETS_DIR, ROOT
from assistant.views.result import ErrorKind, View, ledger_exists, read_ledger

LOCKED_TEXT = "is locked by another process"  # LedgerLockedError's wording
WAITING = (
    "Waiting for the replay to release the ledger: DuckDB lets one process hold the file while "
    "it writes. The panels fill in by themselves when it is free (or point the sidebar at "
    "another ledger file)."
)
SAMPLER_POLICIES = ("fixed", "voice_activity", "change")
STT_CHOICES = ("recorded:", "whisper:tiny.en", "deepgram:nova-3")
STT_LABELS = {
    "recorded:": "recorded transcript (fast)",
    "whisper:tiny.en": "whisper tiny.en (offline)",
    "deepgram:nova-3": "Deepgram nova-3 (key)",
}
QUESTION_COLUMNS = (
    "media_t_s",
    "asker",
    "question",
    "tier",
    "score",
    "router",
    "threshold",
    "explored",
    "vision_model_resolved",
    "llm_model_resolved",
    "total_latency_ms",
    "total_cost_usd",
    "status",
    "quality",
    "answer",
    "reference_answer",
)


def is_locked(message: str | None) -> bool:
    """Does ``message`` read like a locked ledger's? For text from elsewhere (a job's log): a View
    says so itself (``view.locked``)."""
    return bool(message) and (LOCKED_TEXT in str(message) or str(message).startswith(WAITING))


def calm(view: View[Any]) -> View[Any]:
    """``view`` with a locked-ledger error replaced by :data:`WAITING`."""
    return View.fail(ErrorKind.LOCKED, WAITING) if view.locked else view


def _read(ledger_path: str | Path, read: Any) -> View[Any]:
    if not ledger_exists(ledger_path):
        return View.fail(
            ErrorKind.MISSING,
            f"Ledger {ledger_path} does not exist yet: start a replay above, or run "
            "`python -m assistant replay datasets/demo`.",
        )
    return calm(read_ledger(ledger_path, read))


# -- datasets ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetChoice:
    path: str
    name: str
    title: str
    duration_s: float

    @property
    def label(self) -> str:
        title = f" — {self.title}" if self.title else ""
        return f"{self.name}{title} ({self.duration_s:.0f} s)"


def read_manifest(path: str | Path) -> DatasetChoice | None:
    """Name, title and length from a dataset's manifest (no media is opened); None if unreadable."""
    folder = Path(path)
    manifest = folder / "manifest.toml" if folder.is_dir() else folder
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        return DatasetChoice(
            path=str(manifest.parent),
            name=str(data["name"]),
            title=str(data.get("title", "")),
            duration_s=float(data["duration_s"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_datasets(root: str | Path = DATASETS_DIR) -> list[DatasetChoice]:
    """The folders under ``root`` that hold a readable manifest, by name."""
    base = Path(root)
    if not base.is_dir():
        return []
    found = (read_manifest(p) for p in sorted(base.iterdir()) if (p / "manifest.toml").is_file())
    return [d for d in found if d is not None]


# -- one run -----------------------------------------------------------------------------------


def question_table(requests: Any) -> Any:
    """Each question with its route, models, latency, cost, answer and reference."""
    return requests[[c for c in QUESTION_COLUMNS if c in requests.columns]].reset_index(drop=True)


def read_run_detail(ledger_path: str | Path, run_id: str) -> View[Any]:
    """A run for browsing: ``summary``, ``frames``, ``utterances``, ``questions``, ``source_kind``,
    ``source_ref`` and ``config`` (the run's configuration as a dict)."""
    from assistant.ledger.queries import (
        run_frames,
        run_requests,
        run_source,
        run_summary,
        run_utterances,
    )

    def read(ledger: Any) -> dict[str, Any]:
        source = run_source(ledger, run_id)
        if source is None:
            raise LedgerError(f"run {run_id} does not exist in {ledger.label}")
        try:
            config = json.loads(source[2] or "")
        except ValueError:
            config = {}
        requests = run_requests(ledger, run_id)
        return {
            "summary": run_summary(ledger, run_id),
            "frames": run_frames(ledger, run_id),
            "utterances": run_utterances(ledger, run_id),
            "requests": requests,
            "questions": question_table(requests),
            "source_kind": source[0],
            "source_ref": source[1],
            "config": config,
        }

    return _read(ledger_path, read)


def timeline(frames: Any, utterances: Any, requests: Any) -> Any:
    """One long table for a timeline chart: ``lane``, ``start_s``, ``end_s``, ``kind`` (frame,
    speech, question), ``label`` (reason, text, question) and ``detail`` (tier for questions)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for f in frames.itertuples():
        rows.append(
            {
                "lane": "screen",
                "start_s": f.media_t_s,
                "end_s": f.media_t_s,
                "kind": "kept frame",
                "label": f.reason,
                "detail": f.reason,
            }
        )
    for u in utterances.itertuples():
        rows.append(
            {
                "lane": u.participant,
                "start_s": u.start_s,
                "end_s": u.end_s,
                "kind": "speech",
                "label": u.text,
                "detail": u.participant,
            }
        )
    for r in requests.itertuples():
        rows.append(
            {
                "lane": "questions",
                "start_s": r.media_t_s,
                "end_s": r.media_t_s,
                "kind": "question",
                "label": r.question,
                "detail": r.tier,
            }
        )
    columns = ["lane", "start_s", "end_s", "kind", "label", "detail"]
    return pd.DataFrame(rows, columns=columns)


def frames_between(frames: Any, start_s: float, end_s: float, *, limit: int = 12) -> Any:
    """The kept frames in [start_s, end_s], thinned evenly to at most ``limit``."""
    inside = frames[(frames["media_t_s"] >= start_s) & (frames["media_t_s"] <= end_s)]
    if len(inside) <= limit:
        return inside.reset_index(drop=True)
    step = (len(inside) - 1) / (limit - 1) if limit > 1 else 1
    picks = sorted({round(i * step) for i in range(limit)})
    return inside.iloc[picks].reset_index(drop=True)


# -- thumbnails --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thumbnails:
    images: dict[float, bytes]  # media time -> JPEG
    message: str | None = None  # why some or all are missing


def screen_video(source_ref: str) -> Path:
    """The screen video of the dataset a run replayed (its ``source_ref``)."""
    from assistant.sessions.datasets import load_dataset

    path = Path(source_ref)
    if not path.is_absolute() and not path.exists() and (ROOT / path).exists():
        path = ROOT / path  # replayed from the checkout with a relative path (datasets/demo)
    return load_dataset(path, check_media=False).screen


def thumbnails(source_ref: str, times: list[float], *, width: int = 320) -> Thumbnails:
    """JPEG thumbnails of the screen at ``times`` (seconds), decoded from the dataset's video.

    One pass over the file: seeks only when the next time is behind or far ahead."""
    if not times:
        return Thumbnails({})
    try:
        video = screen_video(source_ref)
    except WorkbenchError as exc:
        return Thumbnails({}, f"no thumbnails: {exc}")
    import av

    images: dict[float, bytes] = {}
    try:
        container = av.open(str(video))
    except (av.FFmpegError, OSError) as exc:
        return Thumbnails({}, f"no thumbnails: cannot open {video} ({exc})")
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        half_frame_s = 0.5 / float(stream.average_rate or 30)
        time_base = float(stream.time_base or 1 / 90_000)
        frames = None
        position_s = -1.0
        for target in sorted(set(times)):
            if frames is None or target < position_s or target - position_s > 5.0:
                container.seek(int(target / time_base), stream=stream, backward=True)
                frames = container.decode(stream)
            for frame in frames:
                position_s = frame.pts * time_base if frame.pts is not None else 0.0
                if position_s >= target - half_frame_s:
                    images[target] = _jpeg(frame, width)
                    break
    except av.FFmpegError as exc:
        return Thumbnails(images, f"some thumbnails are missing: {video} ({exc})")
    finally:
        container.close()
    missing = len(set(times)) - len(images)
    message = f"{missing} frame(s) are past the end of {video.name}" if missing else None
    return Thumbnails(images, message)


def _jpeg(frame: Any, width: int) -> bytes:
    image = frame.to_image()
    image.thumbnail((width, width * 2))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


# -- a live (or just-finished) run -------------------------------------------------------------

def usd(value: float | None) -> str:
    """Money for a page: ``assistant.core.money.format_usd`` (dollars, never 1.81e+03 µ$)."""
    return format_usd(value)


def cost_per_hour(cost_usd: float, media_s: float | None) -> float | None:
    """What the run costs per hour of media at its pace so far (None before any media)."""
    return cost_usd / media_s * 3600 if media_s and media_s > 0 else None


def read_live(
    ledger_path: str | Path,
    run_id: str,
    *,
    media_s: float | None = None,
    frames: int = 4,
    lines: int = 12,
    questions: int = 6,
) -> View[Any]:
    """The latest of a run: ``frames``, ``utterances``, ``questions`` (newest last), and ``totals``
    (status, cost so far, media reached, running cost per hour). ``media_s`` is the replay's own
    progress when known (a paced replay's clock), else the latest media time in the ledger."""
    limits = {"frames": frames, "utterances": lines, "questions": questions}

    def read(ledger: Any) -> dict[str, Any]:
        from assistant.ledger.queries.live import latest_rows, live_totals

        row = live_totals(ledger, run_id)
        if row is None:
            raise LedgerError(f"run {run_id} does not exist in {ledger.label}")
        data: dict[str, Any] = {name: latest_rows(ledger, run_id, name, n) for name, n in limits.items()}
        reached = media_s
        if reached is None:
            reached = row["media_processed_s"] or row["media_seen_s"]
        row["media_s"] = reached
        row["cost_per_hour_usd"] = cost_per_hour(row["cost_usd"], reached)
        data["totals"] = row
        return data

    return _read(ledger_path, read)
