"""``eval-answers``: key facts found in the answers, at the default threshold and all-premium.

Each dataset is replayed twice into a scratch ledger with the ground-truth transcript
(``--stt recorded``, so transcription does not blur what is measured): once with the default
configuration, once with every request premium (threshold 0). For each labelled question, each of
its key facts counts as found when its letters and digits, in order, are inside the answer's
(:func:`assistant.core.quality.fact_found`); abstentions are counted apart.

A source is a dataset folder (``manifest.toml``) or a meeting folder of the shared real recordings
(``meeting.mp4``, ``questions.jsonl``, ``truth/``): that one is imported first (no transcription:
its questions and ground truth are copied in), as its README describes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.core.errors import DatasetError
from assistant.core.quality import ABSTAINED, fact_found

MODES: dict[str, float | None] = {"default": None, "all-premium": 0.0}
_GROUND_TRUTH = (
    '\n[ground_truth]\ntranscript = "truth/transcript.jsonl"\n'
    'screen_changes = "truth/screen_changes.jsonl"\n'
)


@dataclass(frozen=True, slots=True)
class ModeResult:
    facts: int
    found: int
    questions: int
    abstained: int
    premium: int  # requests answered on the premium tier

    @property
    def recall(self) -> float | None:
        return self.found / self.facts if self.facts else None


@dataclass(frozen=True, slots=True)
class DatasetResult:
    name: str
    modes: dict[str, ModeResult] = field(default_factory=dict)


def prepare(source: Path, work: Path) -> Path:
    """A dataset folder for ``source``: itself, or a shared real meeting imported into ``work``."""
    if (source / "manifest.toml").is_file():
        return source
    video = source / "meeting.mp4"
    if not (video.is_file() and (source / "questions.jsonl").is_file()):
        raise DatasetError(
            source,
            "is neither a dataset (manifest.toml) nor a meeting folder (meeting.mp4, questions.jsonl)",
            "Pass a dataset folder, or a meeting of ../shared/benchmarks/real-meetings",
        )
    if not (source / "truth" / "transcript.jsonl").is_file():
        raise DatasetError(
            source, "has no truth/transcript.jsonl", "Add the ground-truth transcript (speaker room)"
        )
    from assistant.sessions.importing import ImportOptions, import_recording

    out = work / f"dev-{source.name}"
    if out.exists():
        shutil.rmtree(out)
    import_recording([str(video)], ImportOptions(out=out, questions=False))
    (out / "questions.jsonl").write_text(
        (source / "questions.jsonl").read_text(encoding="utf-8"), encoding="utf-8"
    )
    shutil.copytree(source / "truth", out / "truth")
    with (out / "manifest.toml").open("a", encoding="utf-8") as f:
        f.write(_GROUND_TRUTH)
    return out


def measure(
    dataset_dir: Path, ledger_path: Path, *, notice: Callable[[str], None] | None = None
) -> DatasetResult:
    """Replay ``dataset_dir`` in each of :data:`MODES` and count the key facts found."""
    from assistant.core.config import config_from_options
    from assistant.ledger.queries import run_requests
    from assistant.ledger.store import Ledger
    from assistant.sessions.datasets import load_dataset
    from assistant.sessions.replay import replay

    dataset = load_dataset(dataset_dir)
    facts = {q.id: q.key_facts for q in dataset.questions if q.key_facts}
    result = DatasetResult(dataset.name)
    for mode, threshold in MODES.items():
        config = config_from_options(None, threshold=threshold, stt="recorded")
        run_id = replay(dataset, ledger=str(ledger_path), config=config, notice=notice)
        with Ledger(str(ledger_path)) as ledger:
            frame = run_requests(ledger, run_id)
        rows = list(
            frame[["question_id", "answer", "status", "tier"]].itertuples(index=False, name=None)
        )
        total = found = asked = abstained = premium = 0
        for qid, answer, status, tier in rows:
            premium += tier == "premium"
            if qid not in facts:
                continue
            asked += 1
            abstained += status == ABSTAINED
            total += len(facts[qid])
            found += sum(fact_found(answer or "", f) for f in facts[qid])
        result.modes[mode] = ModeResult(total, found, asked, abstained, premium)
    return result


def run_answer_bench(
    sources: Sequence[Path], work: Path, *, notice: Callable[[str], None] | None = None
) -> list[DatasetResult]:
    work.mkdir(parents=True, exist_ok=True)
    ledger = work / "eval-answers.duckdb"
    if ledger.exists():
        ledger.unlink()
    return [measure(prepare(s, work), ledger, notice=notice) for s in sources]


def format_answer_bench(results: Sequence[DatasetResult]) -> str:
    """One row per dataset and mode, then the total over the datasets of each mode."""

    def row(name: str, mode: str, r: ModeResult) -> str:
        recall = "n/a" if r.recall is None else f"{r.recall:.2f}"
        return (
            f"{name:<28} {mode:<12} {recall:>6} {r.found:>5}/{r.facts:<5} {r.questions:>9} "
            f"{r.abstained:>9} {r.premium:>7}"
        )

    lines = [
        f"{'dataset':<28} {'mode':<12} {'recall':>6} {'found':>11} {'questions':>9} "
        f"{'abstained':>9} {'premium':>7}"
    ]
    for res in results:
        lines += [row(res.name, mode, r) for mode, r in res.modes.items()]
    if len(results) > 1:
        for mode in MODES:
            parts = [res.modes[mode] for res in results if mode in res.modes]
            total = ModeResult(*(sum(getattr(p, f) for p in parts) for f in (
                "facts", "found", "questions", "abstained", "premium")))
            lines.append(row("all", mode, total))
    return "\n".join(lines)


def to_json(results: Sequence[DatasetResult]) -> str:
    return json.dumps(
        [
            {
                "dataset": r.name,
                **{
                    mode: {"recall": m.recall, "found": m.found, "facts": m.facts,
                           "questions": m.questions, "abstained": m.abstained,
                           "premium": m.premium}
                    for mode, m in r.modes.items()
                },
            }
            for r in results
        ],
        indent=2,
    )
