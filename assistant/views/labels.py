"""Read and write side of the Label page: a run's questions with the screen at their time, the
transcript around them and every answer (both tiers' for a ``--both-tiers`` run), the labels in
force and their history; storing labels; exporting them or writing them into the dataset.

Labels are written through the ledger the app owns (``assistant.ledger.owner``), never a second
connection; while another process holds the file nothing is written and the View says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.errors import DatasetError, LedgerError
from assistant.ledger.queries.labels import KINDS, TIERS, Label, LabelError
from assistant.views.result import ErrorKind, View, ledger_error, reading

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger

TRANSCRIPT_BEFORE_S = 30.0
TRANSCRIPT_AFTER_S = 3.0
LABELS_HINT = (
    "No run with requests yet: replay the demo with both tiers, "
    "`python -m assistant replay datasets/demo --stt recorded --both-tiers`."
)

__all__ = [
    "KINDS",
    "TIERS",
    "Label",
    "default_author",
    "export_labels",
    "parse_key_facts",
    "read_label_run",
    "save_labels",
    "write_dataset",
]


def default_author(environ: Mapping[str, str] | None = None) -> str:
    """Who labels, until they type their name: ``$USER``, else "me"."""
    env = os.environ if environ is None else environ
    return env.get("USER") or "me"


def parse_key_facts(text: str) -> tuple[str, ...]:
    """Key facts typed one per line (or separated by ';')."""
    parts = [p.strip() for line in text.splitlines() for p in line.split(";")]
    return tuple(p for p in parts if p)


def _transcript(utterances: Any, t_s: float) -> list[dict[str, Any]]:
    if utterances.empty:
        return []
    near = utterances[
        (utterances["end_s"] >= t_s - TRANSCRIPT_BEFORE_S)
        & (utterances["start_s"] <= t_s + TRANSCRIPT_AFTER_S)
    ]
    return [
        {"start_s": float(r.start_s), "participant": r.participant, "text": r.text}
        for r in near.itertuples()
    ]


def read_label_run(ledger_path: str | Path, run_id: str) -> View[dict[str, Any]]:
    """One run to label. ``data``: ``summary`` (with ``labelled`` of ``requests``), ``both_tiers``,
    ``source_ref``, ``items`` (one dict per request in media order: ids, time, asker, question,
    routed tier, ``answers`` (tier -> dict with model, answer, quality, quality_source),
    ``transcript`` (the utterances around it), ``labels`` ((kind, tier) -> the label in force)),
    and ``history`` (every label row, oldest first)."""
    from assistant.ledger.queries import run_requests, run_source, run_summary, run_utterances
    from assistant.ledger.queries.labels import answers_by_tier, label_history, latest_labels

    try:
        with reading(ledger_path) as ledger:
            source = run_source(ledger, run_id)
            if source is None:
                raise LedgerError(f"run {run_id} does not exist in {ledger.label}")
            summary = run_summary(ledger, run_id)
            requests = run_requests(ledger, run_id)
            answers = answers_by_tier(ledger, run_id)
            utterances = run_utterances(ledger, run_id)
            latest = latest_labels(ledger, run_id)
            history = label_history(ledger, run_id)
    except LedgerError as exc:
        return ledger_error(exc)
    if requests.empty:
        return View.fail(ErrorKind.EMPTY, f"Run {run_id} has no requests to label.")
    by_request: dict[str, dict[str, dict[str, Any]]] = {}
    for row in answers.to_dict("records"):
        by_request.setdefault(row["request_id"], {})[row["tier"]] = {
            "model": row["model"],
            "answer": row["answer"],
            "quality": _num(row["quality"]),
            "quality_source": row["quality_source"],
        }
    in_force: dict[str, dict[tuple[str, str | None], dict[str, Any]]] = {}
    for row in latest.to_dict("records"):
        tier = row["tier"] if isinstance(row["tier"], str) else None
        in_force.setdefault(row["request_id"], {})[(row["kind"], tier)] = row
    items = [
        {
            "request_id": r.request_id,
            "question_id": r.question_id,
            "media_t_s": float(r.media_t_s),
            "asker": r.asker,
            "question": r.question,
            "tier": r.tier,
            "reference": r.reference_answer,
            "quality": _num(r.quality),
            "answers": by_request.get(r.request_id, {}),
            "transcript": _transcript(utterances, float(r.media_t_s)),
            "labels": in_force.get(r.request_id, {}),
        }
        for r in requests.itertuples()
    ]
    both = any(len(i["answers"]) > 1 for i in items)
    return View(
        {
            "summary": summary,
            "both_tiers": both,
            "source_ref": source[1],
            "items": items,
            "history": history,
        }
    )


def _num(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def save_labels(ledger_path: str | Path, labels: Sequence[Label]) -> View[list[str]]:
    """Store ``labels`` (all or none) through the app's own ledger connection. A bad label (a
    score outside 0..1, an unknown run or request, no author) is one INVALID message; while
    another process holds the file, LOCKED; either way nothing already stored changes."""
    from assistant.ledger.owner import owned
    from assistant.ledger.queries.labels import add_labels

    try:
        ledger: Ledger | None
        if str(ledger_path).startswith("ducklake:"):
            from assistant.ledger.lakes import shared_lake

            ledger = shared_lake(str(ledger_path))
        else:
            ledger = owned(ledger_path)
        if ledger is None:
            return View.fail(
                ErrorKind.LOCKED,
                f"Another process holds {ledger_path} (a replay?): the label was not stored; "
                "try again when it is done.",
            )
        ids = add_labels(ledger, list(labels))
    except LabelError as exc:
        return View.fail(ErrorKind.INVALID, f"Not stored: {exc}.")
    except LedgerError as exc:
        return ledger_error(exc)
    noun = "label" if len(ids) == 1 else "labels"
    return View(ids, f"Stored {len(ids)} {noun}.")


def _question_labels(ledger: Any, run_id: str) -> list[dict[str, Any]]:
    from assistant.ledger.queries import run_requests
    from assistant.ledger.queries.labels import latest_labels

    latest = latest_labels(ledger, run_id)
    screen = dict(
        zip(*(run_requests(ledger, run_id)[c] for c in ("request_id", "needs_screen")), strict=True)
    )
    rows = latest.to_dict("records")
    for row in rows:
        row["needs_screen"] = bool(screen.get(row["request_id"], False))
    return rows


def export_labels(ledger_path: str | Path, run_id: str) -> View[str]:
    """The run's labels in force as JSON lines (empty text when it has none)."""
    from assistant.analysis.labels import labels_jsonl
    from assistant.ledger.queries import run_exists

    try:
        with reading(ledger_path) as ledger:
            if not run_exists(ledger, run_id):
                raise LedgerError(f"run {run_id} does not exist in {ledger.label}")
            return View(labels_jsonl(_question_labels(ledger, run_id)))
    except LedgerError as exc:
        return ledger_error(exc)


def write_dataset(ledger_path: str | Path, run_id: str) -> View[Any]:
    """Write the run's question labels into its dataset's questions file (atomically); the
    message says what changed, or why nothing was written (the folder moved, ...)."""
    from assistant.analysis.labels import dataset_folder, write_labels_to_dataset
    from assistant.ledger.queries import run_source

    try:
        with reading(ledger_path) as ledger:
            source = run_source(ledger, run_id)
            if source is None:
                raise LedgerError(f"run {run_id} does not exist in {ledger.label}")
            rows = _question_labels(ledger, run_id)
        folder = dataset_folder(source[1], run_id=run_id)
        result = write_labels_to_dataset(folder, rows)
    except LedgerError as exc:
        return ledger_error(exc)
    except (DatasetError, OSError) as exc:
        return View.fail(ErrorKind.UNAVAILABLE, f"Nothing written: {exc}")
    return View(result, result.sentence)
