"""Labels beyond the ledger: writing them back into a dataset's questions file, and exporting them.

:func:`write_labels_to_dataset` rewrites ``questions.jsonl`` atomically (a temporary file in the
same folder, then a rename) and keeps every line it does not change byte for byte:

- ``reference``: the question's ``reference`` and ``key_facts`` (and it is no longer proposed);
- ``question_edit``: its ``text``; ``question_accept``: drops ``"proposed"``;
- ``question_delete``: the line goes, unless an accept, edit or reference came later.

Accepting a proposal sets ``needs_screen`` (the loader requires it of non-proposed questions)
from the run's request when the line has none. Grades and preferences are about one run's
answers, not the question: they stay in the ledger.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.errors import DatasetError
from assistant.core.paths import ROOT
from assistant.sessions.writers import replace_text

_QUESTION_KINDS = ("reference", "question_edit", "question_accept", "question_delete")


@dataclass(frozen=True, slots=True)
class WriteBack:
    path: Path
    changed: int
    deleted: int
    unchanged: int

    @property
    def sentence(self) -> str:
        return (
            f"wrote {self.path}: {self.changed} questions changed, {self.deleted} deleted, "
            f"{self.unchanged} lines kept as they were"
        )


def dataset_folder(source_ref: str | None, *, run_id: str) -> Path:
    """The dataset folder a run replayed; DatasetError when it is not there any more."""
    if not source_ref:
        raise DatasetError(
            f"run {run_id}", "did not replay a dataset folder", "there is nothing to write back"
        )
    path = Path(source_ref)
    if not path.is_absolute() and not path.exists() and (ROOT / path).exists():
        path = ROOT / path
    if not (path / "manifest.toml").is_file():
        raise DatasetError(
            source_ref,
            f"the dataset folder of run {run_id} is not there any more (moved or deleted?)",
            "Move it back, or export the labels with --export FILE",
        )
    return path


def _questions_file(dataset_dir: Path) -> Path:
    try:
        manifest = tomllib.loads((dataset_dir / "manifest.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DatasetError(
            dataset_dir / "manifest.toml", f"cannot read it ({exc})", "Fix it"
        ) from exc
    path = dataset_dir / str(manifest.get("questions", "questions.jsonl"))
    if not path.is_file():
        raise DatasetError(path, "is missing", "The dataset folder changed since the run")
    return path


def _changes(labels: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Question-level labels by question id, oldest first (the latest per kind wins)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for label in sorted(labels, key=lambda r: (str(r["created_at"]), str(r.get("label_id")))):
        qid = label.get("question_id")
        if label["kind"] in _QUESTION_KINDS and isinstance(qid, str) and qid:
            out.setdefault(qid, []).append(label)
    return out


def _text(value: Any) -> str | None:
    """A label's text field (pandas may hand an all-null column over as NaN)."""
    return value if isinstance(value, str) and value else None


def _apply(obj: dict[str, Any], labels: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The question line after its labels (None: deleted)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for label in labels:
        latest[label["kind"]] = label
    delete = latest.get("question_delete")
    keepers = [latest[k] for k in ("reference", "question_edit", "question_accept") if k in latest]
    if delete is not None and all(
        str(k["created_at"]) < str(delete["created_at"]) for k in keepers
    ):
        return None
    out = dict(obj)
    edited = _text(latest["question_edit"].get("question")) if "question_edit" in latest else None
    if edited:
        out["text"] = edited
    if "reference" in latest:
        ref = latest["reference"]
        reference = _text(ref.get("reference"))
        if reference:
            out["reference"] = reference
        else:
            out.pop("reference", None)
        out["key_facts"] = json.loads(_text(ref.get("key_facts_json")) or "[]")
    if ("reference" in latest or "question_accept" in latest) and out.get("proposed"):
        out.pop("proposed")
        if "needs_screen" not in out:
            screen = next((k.get("needs_screen") for k in keepers if "needs_screen" in k), None)
            out["needs_screen"] = bool(screen)
    return out


def write_labels_to_dataset(
    dataset_dir: str | Path, labels: Iterable[Mapping[str, Any]]
) -> WriteBack:
    """Write question-level labels (rows of the ``labels`` table, optionally with the request's
    ``needs_screen``) into the dataset's questions file, atomically. DatasetError, with nothing
    written, when the folder or file is gone or no labelled question is in the file."""
    folder = Path(dataset_dir)
    if not (folder / "manifest.toml").is_file():
        raise DatasetError(folder, "is not a dataset folder (no manifest.toml)", "Moved?")
    path = _questions_file(folder)
    changes = _changes(labels)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out: list[str] = []
    changed = deleted = unchanged = 0
    seen: set[str] = set()
    for raw in lines:
        text = raw.strip()
        obj = None
        if text and not text.startswith("#"):
            try:
                obj = json.loads(text)
            except ValueError as exc:
                raise DatasetError(path, f"a line is not JSON ({exc})", "Fix it first") from exc
        qid = obj.get("id") if isinstance(obj, dict) else None
        if not isinstance(qid, str) or qid not in changes:
            out.append(raw)
            unchanged += 1
            continue
        seen.add(qid)
        assert isinstance(obj, dict)
        new = _apply(obj, changes[qid])
        if new is None:
            deleted += 1
        elif new == obj:
            out.append(raw)
            unchanged += 1
        else:
            out.append(json.dumps(new, ensure_ascii=False) + "\n")
            changed += 1
    missing = sorted(set(changes) - seen)
    if changes and not seen:
        raise DatasetError(
            path,
            f"holds none of the labelled questions ({', '.join(missing[:5])})",
            "The dataset changed since the run; nothing was written",
        )
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    replace_text(path, "".join(out))  # atomic, keeps the file's mode
    return WriteBack(path=path, changed=changed, deleted=deleted, unchanged=unchanged)


def labels_jsonl(labels: Iterable[Mapping[str, Any]]) -> str:
    """Labels as JSON lines (timestamps as ISO text), for ``labels --export``."""

    def plain(value: Any) -> Any:
        if hasattr(value, "isoformat"):
            return value.isoformat()
        if isinstance(value, float) and value != value:
            return None
        return value

    return "".join(
        json.dumps({k: plain(v) for k, v in row.items()}, ensure_ascii=False) + "\n"
        for row in labels
    )


# --- the learned router, trained from labels ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelTraining:
    """A learned-router model fitted on a ``--both-tiers`` run's labelled requests."""

    model: Any  # assistant.routing.learned.LogisticModel or assistant.routing.text.TextModel
    run_id: str
    rows: int  # requests it was trained on
    from_people: int  # of which a person's grade, reference or preference decided
    from_preferences: int
    skipped: int  # requests without a known quality for both tiers (or deleted)
    kind: str = "learned"

    @property
    def sentence(self) -> str:
        return (
            f"trained the {self.kind} router on {self.rows} labelled requests of run {self.run_id} "
            f"({self.from_people} decided by people's labels, {self.from_preferences} of them "
            f"preferences; {self.skipped} requests without both tiers' quality skipped)"
        )


ROUTER_KINDS = ("learned", "text")


def train_router_from_labels(
    ledger: Any, run_id: str, *, margin: float = 0.0, l2: float = 1.0, kind: str = "learned"
) -> LabelTraining:
    """Fit a router (``kind``: the ``learned`` logistic scorer, or the ``text`` TF-IDF ridge
    router on the question's text) on a ``--both-tiers`` run: a request is a positive ("premium
    helps") when its premium answer's effective quality beats the cheap one's by more than
    ``margin``, or a person preferred the premium answer; a preference of cheap or a tie is a
    negative. Requests without both qualities (and no preference) are skipped and counted.
    ValueError when no request is labelled (the text router needs two)."""
    if kind not in ROUTER_KINDS:
        raise ValueError(f"unknown router kind {kind!r}; choose one of {', '.join(ROUTER_KINDS)}")
    from assistant.ledger.queries import run_requests
    from assistant.ledger.queries.labels import answers_by_tier, latest_labels
    from assistant.routing.learned import question_features, train_logistic

    answers = answers_by_tier(ledger, run_id)
    labels = latest_labels(ledger, run_id)
    preferred = {
        r["request_id"]: r["preferred_tier"]
        for r in labels.to_dict("records")
        if r["kind"] == "preference"
    }
    deleted = set(answers[answers["quality_source"] == "deleted"]["request_id"])
    quality: dict[str, dict[str, tuple[float | None, str | None]]] = {}
    for row in answers.to_dict("records"):
        value = row["quality"]
        known = None if value is None or value != value else float(value)
        quality.setdefault(row["request_id"], {})[row["tier"]] = (known, row["quality_source"])
    features, outcomes, questions = [], [], []
    people = prefs = skipped = 0
    for r in run_requests(ledger, run_id).itertuples():
        tiers = quality.get(r.request_id, {})
        cheap, premium = tiers.get("cheap", (None, None)), tiers.get("premium", (None, None))
        if r.request_id in deleted:
            skipped += 1
            continue
        if r.request_id in preferred:
            outcome = (0.0, 1.0) if preferred[r.request_id] == "premium" else (1.0, 1.0 - margin)
            people += 1
            prefs += 1
        elif cheap[0] is not None and premium[0] is not None:
            outcome = (cheap[0], premium[0])
            people += int(bool({cheap[1], premium[1]} & {"grade", "reference"}))
        else:
            skipped += 1
            continue
        features.append(question_features(r.question))
        outcomes.append(outcome)
        questions.append(r.question)
    if not features:
        raise ValueError(
            f"run {run_id} has no request with both tiers' quality or a preference: label it "
            "first (Label page), from a --both-tiers run"
        )
    if kind == "text":
        from assistant.routing.text import train_text

        if len(questions) < 2:
            raise ValueError(f"run {run_id} has one labelled request; the text router needs two")
        model: Any = train_text(
            questions,
            [w for w, _ in outcomes],
            [s for _, s in outcomes],
            trained_on=[f"run {run_id}"],
        )
    else:
        model = train_logistic(features, outcomes, l2=l2, margin=margin)
    return LabelTraining(model, run_id, len(features), people, prefs, skipped, kind)
