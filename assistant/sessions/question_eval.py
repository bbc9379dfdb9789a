"""How well the proposer finds a meeting's real questions: precision and recall against a truth.

The truth is a transcript (JSONL, as ``[ground_truth].transcript``) whose lines say which are real
questions: ``"question_like": "question"`` (or a value starting so, "question (non-native
wording)"; other values, such as ``"statement ..."``, mark lines that are not) or ``"question": true``. A proposal matches a real question when it holds most of its
words (:data:`MATCH_RECALL` of them; the proposal may carry the utterance around it) and was
proposed no earlier than the question began. Precision: the share of proposals that match a real
question; recall: the share of real questions some proposal matches.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.errors import DatasetError
from assistant.core.events import Utterance
from assistant.sessions.proposals import Proposal, propose

MATCH_RECALL = 0.6  # share of a real question's words a proposal must hold to be that question
EARLY_S = 1.0  # a proposal may end this much before the real question starts (timing slack)


@dataclass(frozen=True, slots=True)
class TruthQuestion:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class ProposalEvaluation:
    questions: tuple[TruthQuestion, ...]
    proposals: tuple[Proposal, ...]
    matched: tuple[tuple[Proposal, TruthQuestion | None], ...]  # each proposal, its question

    @property
    def precision(self) -> float | None:
        if not self.proposals:
            return None
        return sum(q is not None for _, q in self.matched) / len(self.proposals)

    @property
    def found(self) -> tuple[TruthQuestion, ...]:
        hit = {q for _, q in self.matched if q is not None}
        return tuple(q for q in self.questions if q in hit)

    @property
    def recall(self) -> float | None:
        return len(self.found) / len(self.questions) if self.questions else None


def _marked(line: dict[str, Any]) -> bool | None:
    """True / False when the line says whether it is a real question, None when it does not."""
    if isinstance(line.get("question"), bool):
        return bool(line["question"])
    like = line.get("question_like")
    if isinstance(like, str):
        return like.strip().lower().startswith("question")  # "question (non-native wording)"
    return None


def truth_from(dataset: Any, path: Path | None = None) -> tuple[TruthQuestion, ...]:
    """The real questions of ``dataset`` (or of the transcript at ``path``)."""
    if path is None:
        manifest = tomllib.loads((dataset.root / "manifest.toml").read_text(encoding="utf-8"))
        name = manifest.get("ground_truth", {}).get("transcript")
        if not isinstance(name, str):
            raise DatasetError(
                dataset.root / "manifest.toml",
                "has no ground-truth transcript to evaluate proposals against",
                "Add [ground_truth].transcript, or pass --truth FILE (a transcript JSONL whose "
                'lines carry "question_like": "question" on the real questions)',
            )
        path = dataset.root / name
    if not path.is_file():
        raise DatasetError(path, "does not exist", "Pass an existing transcript JSONL")
    questions, marks = [], 0
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith(("#", "//")):
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(path, f"line {n} is not JSON ({exc.msg})", "Fix that line") from exc
        mark = _marked(line)
        if mark is None:
            continue
        marks += 1
        if mark:
            questions.append(
                TruthQuestion(float(line["start_s"]), float(line["end_s"]), str(line["text"]))
            )
    if not marks:
        raise DatasetError(
            path,
            "marks no line as a question or not",
            'Add "question_like": "question" to the real questions (see docs/screen-reading.md)',
        )
    return tuple(questions)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _holds(proposal: Proposal, question: TruthQuestion) -> bool:
    if proposal.t_s < question.start_s - EARLY_S:
        return False
    want = _tokens(question.text)
    have = set(_tokens(proposal.text))
    return bool(want) and sum(w in have for w in want) / len(want) >= MATCH_RECALL


def evaluate_proposals(
    utterances: Sequence[Utterance], truth: Sequence[TruthQuestion]
) -> ProposalEvaluation:
    proposals = propose(utterances)
    matched = []
    for p in proposals:
        hit = next((q for q in truth if _holds(p, q)), None)
        matched.append((p, hit))
    return ProposalEvaluation(tuple(truth), tuple(proposals), tuple(matched))


def format_evaluation(ev: ProposalEvaluation, *, origin: str, name: str) -> str:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    right = sum(q is not None for _, q in ev.matched)
    lines = [
        f"{name}: proposals from {origin} against {len(ev.questions)} real questions",
        f"  precision {pct(ev.precision)} ({right} of {len(ev.proposals)} proposals are real "
        f"questions)",
        f"  recall    {pct(ev.recall)} ({len(ev.found)} of {len(ev.questions)} real questions "
        f"proposed)",
    ]
    for p, q in ev.matched:
        lines.append(f"  {'ok  ' if q else 'NOT '} {p.t_s:7.1f}s {p.asker}: {p.text}")
    missed = [q for q in ev.questions if q not in ev.found]
    for q in missed:
        lines.append(f"  missed {q.start_s:7.1f}s: {q.text}")
    return "\n".join(lines)
