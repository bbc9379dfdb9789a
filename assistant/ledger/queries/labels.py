"""Labels: people's references, key facts, grades and preferences on a run's answers, and edits of
its (proposed) questions; and the one definition of a request's *effective* quality.

The ``labels`` table is append-only: an edit is a new row, nothing is overwritten or deleted.
When read, the latest row per (request, kind, tier) wins (``created_at``, then ``label_id``).

Effective quality of a request's answer (and of each tier's answer of a ``--both-tiers`` run):

1. a ``grade`` label of that answer (tier NULL means the routed answer), else
2. the offline score (:func:`assistant.core.quality.score_answer`) recomputed against the latest
   ``reference`` label (its reference and key facts), else
3. the quality stored by the pipeline, else NULL (unknown: never 0).

A ``question_delete`` label makes the request's quality NULL (a proposal that was no question),
until a later accept, edit or reference of the question undoes it.
``preference``, ``question_edit`` and ``question_accept`` do not change quality (they are written
back to the dataset and feed the learned router). :func:`label_quality` computes the overrides
(sparse: only labelled requests); the run, request, tier-outcome and sweep queries join them, so
the Runs page, the sweep and the A/B all read quality from here.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assistant.core.errors import LedgerError, WorkbenchError
from assistant.core.quality import score_answer

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from assistant.ledger.store import Ledger

KINDS: tuple[str, ...] = (
    "reference",
    "grade",
    "preference",
    "question_edit",
    "question_delete",
    "question_accept",
)
TIERS: tuple[str, ...] = ("cheap", "premium")
LABEL_QUALITY_VIEW = "label_quality"
"""The name under which :func:`with_label_quality` registers the overrides on a cursor."""


class LabelError(WorkbenchError):
    """A label that cannot be stored (bad score, unknown run or request, missing text)."""


@dataclass(frozen=True, slots=True)
class Label:
    """One label to store. ``tier`` None: the routed answer (or the question itself)."""

    run_id: str
    request_id: str
    kind: str
    author: str
    tier: str | None = None
    question: str | None = None  # question_edit: the new text
    reference: str | None = None
    key_facts: tuple[str, ...] = field(default_factory=tuple)
    score: float | None = None  # grade: 0..1
    preferred_tier: str | None = None  # preference: 'cheap', 'premium' or 'tie'


def _check(label: Label) -> None:
    if label.kind not in KINDS:
        raise LabelError(f"unknown label kind {label.kind!r}: one of {', '.join(KINDS)}")
    if not label.author.strip():
        raise LabelError("a label needs an author: type your name in the Author box")
    if label.tier is not None and label.tier not in TIERS:
        raise LabelError(f"tier must be cheap, premium or none, not {label.tier!r}")
    if label.kind == "grade":
        score = label.score
        if score is None or not isinstance(score, int | float) or math.isnan(score):
            raise LabelError("a grade needs a score between 0 and 1")
        if not 0.0 <= float(score) <= 1.0:
            raise LabelError(f"a grade's score must be between 0 and 1, not {score}")
    has_facts = any(f.strip() for f in label.key_facts)
    if label.kind == "reference" and not (label.reference or "").strip() and not has_facts:
        raise LabelError("a reference label needs a reference answer or at least one key fact")
    if label.kind == "preference" and label.preferred_tier not in (*TIERS, "tie"):
        raise LabelError(
            f"a preference names the better tier: cheap, premium or tie, not {label.preferred_tier!r}"
        )
    if label.kind == "question_edit" and not (label.question or "").strip():
        raise LabelError("an edited question needs its new text")


def add_labels(ledger: Ledger, labels: list[Label], *, now: datetime | None = None) -> list[str]:
    """Validate every label, then store them all in one transaction (none on any error);
    return their ids. LabelError names the first bad one; nothing already stored changes."""
    from assistant.ledger.records import utc_now

    if ledger.read_only:
        raise LedgerError(f"{ledger.label} is open read-only; labels need the writable ledger")
    cur = ledger.cursor()
    rows: list[list[Any]] = []
    for label in labels:
        _check(label)
        found = cur.execute(
            "SELECT question_id FROM requests WHERE run_id = ? AND request_id = ?",
            [label.run_id, label.request_id],
        ).fetchall()
        if not found:
            known = cur.execute("SELECT count(*) FROM runs WHERE run_id = ?", [label.run_id])
            if not known.fetchall()[0][0]:
                raise LabelError(f"run {label.run_id} does not exist in {ledger.label}")
            raise LabelError(f"run {label.run_id} has no request {label.request_id}")
        facts = [f.strip() for f in label.key_facts if f.strip()]
        rows.append(
            [
                uuid.uuid4().hex,
                label.run_id,
                label.request_id,
                found[0][0],
                label.tier,
                label.kind,
                label.question.strip() if label.question else None,
                label.reference.strip() if label.reference and label.reference.strip() else None,
                json.dumps(facts) if label.kind == "reference" else None,
                float(label.score) if label.score is not None else None,
                label.preferred_tier,
                label.author.strip(),
                now or utc_now(),
            ]
        )
    if not rows:
        return []
    cur.begin()
    try:
        cur.executemany(  # a person's handful of labels, never a hot path
            "INSERT INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        cur.commit()
    except Exception:
        cur.rollback()
        raise
    return [row[0] for row in rows]


_LATEST_SQL = """
SELECT * EXCLUDE (rank) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY run_id, request_id, kind, coalesce(tier, '')
        ORDER BY created_at DESC, label_id DESC) AS rank
    FROM labels {where}
) WHERE rank = 1
ORDER BY run_id, request_id, kind, tier NULLS FIRST
"""


def latest_labels(ledger: Ledger, run_id: str | None = None) -> pd.DataFrame:
    """The label in force per (request, kind, tier), of one run or every run."""
    where = "" if run_id is None else "WHERE run_id = $run_id"
    params = None if run_id is None else {"run_id": run_id}
    frame: pd.DataFrame = (
        ledger.cursor().sql(_LATEST_SQL.format(where=where), params=params).to_arrow_table()
    ).to_pandas()
    # NULL as None in every column (an all-NULL text column would otherwise arrive as NaN)
    return frame.astype(object).where(frame.notna(), None)


def label_history(ledger: Ledger, run_id: str) -> pd.DataFrame:
    """Every label row of a run, oldest first (who, when, what)."""
    sql = "SELECT * FROM labels WHERE run_id = $run_id ORDER BY created_at, label_id"
    frame: pd.DataFrame = (
        ledger.cursor().sql(sql, params={"run_id": run_id}).to_arrow_table().to_pandas()
    )
    return frame


_ANSWERS_SQL = """
SELECT q.run_id, q.request_id, q.tier AS routed_tier, q.answer AS routed_answer,
    o.tier AS outcome_tier, o.answer AS outcome_answer
FROM requests AS q
LEFT JOIN tier_outcomes AS o ON o.run_id = q.run_id AND o.request_id = q.request_id
    AND (o.vision_tier IS NULL OR o.vision_tier = o.llm_tier)
WHERE q.request_id IN (SELECT DISTINCT request_id FROM labels {where})
    {and_run}
"""


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def label_quality(ledger: Ledger, run_id: str | None = None) -> Any:  # pyarrow.Table
    """Effective-quality overrides of labelled requests: one row per (run_id, request_id, tier)
    whose quality a label decides, with ``quality``, ``quality_f1``, ``quality_key_facts`` (NULL
    when unknown) and ``source`` ('grade', 'reference' or 'deleted'). Unlabelled answers have no
    row: their stored quality stands."""
    import pyarrow as pa

    latest = latest_labels(ledger, run_id)
    schema = pa.schema(
        [
            ("run_id", pa.string()),
            ("request_id", pa.string()),
            ("tier", pa.string()),
            ("quality", pa.float64()),
            ("quality_f1", pa.float64()),
            ("quality_key_facts", pa.float64()),
            ("source", pa.string()),
        ]
    )
    if latest.empty:
        return schema.empty_table()
    where = "" if run_id is None else "WHERE run_id = $run_id"
    and_run = "" if run_id is None else "AND q.run_id = $run_id"
    params = None if run_id is None else {"run_id": run_id}
    answers = (
        ledger.cursor()
        .sql(_ANSWERS_SQL.format(where=where, and_run=and_run), params=params)
        .to_arrow_table()
        .to_pylist()
    )
    # (run, request) -> {tier: answer}: each tier outcome, and the routed answer as its tier
    by_request: dict[tuple[str, str], dict[str, str | None]] = {}
    routed: dict[tuple[str, str], str] = {}
    for row in answers:
        key = (row["run_id"], row["request_id"])
        tiers = by_request.setdefault(key, {})
        routed[key] = row["routed_tier"]
        tiers.setdefault(row["routed_tier"], row["routed_answer"])
        if row["outcome_tier"] is not None:
            tiers[row["outcome_tier"]] = row["outcome_answer"]
    labels: dict[tuple[str, str], dict[tuple[str, str | None], dict[str, Any]]] = {}
    for row in latest.to_dict("records"):
        key = (row["run_id"], row["request_id"])
        labels.setdefault(key, {})[(row["kind"], _none(row["tier"]))] = row
    out: list[dict[str, Any]] = []
    for key, found in labels.items():
        tiers = by_request.get(key, {})
        for tier, answer in tiers.items():
            decided = _decide(found, tier=tier, routed=routed.get(key), answer=answer)
            if decided is not None:
                out.append({"run_id": key[0], "request_id": key[1], "tier": tier, **decided})
    return pa.Table.from_pylist(out, schema=schema)


def _decide(
    found: dict[tuple[str, str | None], dict[str, Any]],
    *,
    tier: str,
    routed: str | None,
    answer: str | None,
) -> dict[str, Any] | None:
    """The override of one answer's quality, or None when no label decides it."""
    if _deleted(found):
        return {"quality": None, "quality_f1": None, "quality_key_facts": None, "source": "deleted"}
    grade = found.get(("grade", tier)) or (found.get(("grade", None)) if tier == routed else None)
    if grade is not None and _none(grade["score"]) is not None:
        score = float(grade["score"])
        return {"quality": score, "quality_f1": None, "quality_key_facts": None, "source": "grade"}
    reference = found.get(("reference", None))
    if reference is not None:
        facts = tuple(json.loads(_none(reference["key_facts_json"]) or "[]"))
        scored = score_answer(
            answer or "", reference=_none(reference["reference"]), key_facts=facts
        )
        if scored is not None:
            return {
                "quality": scored.score,
                "quality_f1": scored.f1,
                "quality_key_facts": scored.key_facts,
                "source": "reference",
            }
    return None


def _deleted(found: dict[tuple[str, str | None], dict[str, Any]]) -> bool:
    """Is the question deleted: a delete no later accept, edit or reference undid?"""
    delete = found.get(("question_delete", None))
    if delete is None:
        return False
    undo = [found[k] for k in (("question_accept", None), ("question_edit", None),
                               ("reference", None)) if k in found]  # fmt: skip
    return all(
        (u["created_at"], u["label_id"]) < (delete["created_at"], delete["label_id"]) for u in undo
    )


@contextmanager
def with_label_quality(
    ledger: Ledger, run_id: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """This thread's cursor with :data:`LABEL_QUALITY_VIEW` registered (the overrides of
    :func:`label_quality`); unregistered afterwards."""
    table = label_quality(ledger, run_id)
    cur = ledger.cursor()
    cur.register(LABEL_QUALITY_VIEW, table)
    try:
        yield cur
    finally:
        cur.unregister(LABEL_QUALITY_VIEW)


def effective(column: str, *, stored: str, override: str = "lq") -> str:
    """SQL for an effective quality column: the label override when a label decides it (even
    NULL, for a deleted question), else the stored one. ``stored`` and ``override`` are the
    aliases of the stored rows and of the joined :data:`LABEL_QUALITY_VIEW`."""
    return (
        f"CASE WHEN {override}.request_id IS NOT NULL THEN {override}.{column} "
        f"ELSE {stored}.{column} END"
    )


_ANSWERS_BY_TIER_SQL = """
WITH answers AS (
    SELECT o.run_id, o.request_id, o.tier, o.answer, o.quality, o.llm_model AS model
    FROM tier_outcomes AS o WHERE o.run_id = $run_id
        AND (o.vision_tier IS NULL OR o.vision_tier = o.llm_tier)  -- the two plain tiers
    UNION ALL
    SELECT q.run_id, q.request_id, q.tier, q.answer, q.quality, q.llm_model_resolved AS model
    FROM requests AS q
    WHERE q.run_id = $run_id AND NOT EXISTS (
        SELECT 1 FROM tier_outcomes AS o
        WHERE o.run_id = q.run_id AND o.request_id = q.request_id AND o.tier = q.tier)
)
SELECT a.request_id, a.tier, a.model, a.answer, a.quality AS stored_quality,
    {quality} AS quality, coalesce(lq.source, CASE WHEN a.quality IS NOT NULL
        THEN 'stored' END) AS quality_source
FROM answers AS a
LEFT JOIN label_quality AS lq
    ON lq.run_id = a.run_id AND lq.request_id = a.request_id AND lq.tier = a.tier
ORDER BY a.request_id, a.tier
"""


def answers_by_tier(ledger: Ledger, run_id: str) -> pd.DataFrame:
    """Every answer of a run, one row per (request, tier): the routed one, and both tiers' for a
    ``--both-tiers`` run; with its stored and effective quality and where that comes from
    ('grade', 'reference', 'deleted', 'stored' or None when unknown)."""
    sql = _ANSWERS_BY_TIER_SQL.format(quality=effective("quality", stored="a"))
    with with_label_quality(ledger, run_id) as cur:
        frame: pd.DataFrame = cur.sql(sql, params={"run_id": run_id}).to_arrow_table().to_pandas()
    return frame
