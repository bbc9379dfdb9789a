"""Labels (issue 12, items 4 and 5): append-only rows, effective quality (grade > re-scored
reference > stored > NULL) read by the run summary, the sweep and the A/B, 'n of m labelled',
the write-back into questions.jsonl and the ``labels`` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.configs import recorded_config

from assistant.analysis.ab import compare_thresholds
from assistant.analysis.labels import dataset_folder, write_labels_to_dataset
from assistant.analysis.sweep import format_sweep, sweep
from assistant.cli.registry import main
from assistant.cli.replay import format_summary
from assistant.core.errors import DatasetError
from assistant.core.quality import score_answer
from assistant.ledger import Ledger
from assistant.ledger.queries import run_requests, run_summary, run_tier_outcomes
from assistant.ledger.queries.labels import Label, LabelError, add_labels, latest_labels
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

RUN = "bt"


def _count(ledger: Ledger) -> int:
    return int(ledger.cursor().execute("SELECT count(*) FROM labels").fetchall()[0][0])


@pytest.fixture
def dataset(tiny_master: Path, tmp_path: Path) -> Path:
    """The tiny session with q3 turned into a proposal: no reference, no key facts."""
    root = Path(shutil.copytree(tiny_master, tmp_path / "tiny"))
    path = root / "questions.jsonl"
    lines = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if obj["id"] == "q3":
            for key in ("reference", "key_facts", "needs_screen"):
                obj.pop(key, None)
            obj["proposed"] = True
            line = json.dumps(obj)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def ledger(dataset: Path, tmp_path: Path) -> Ledger:
    with Ledger(tmp_path / "l.duckdb") as writable:
        replay(
            load_dataset(dataset),
            ledger=writable,
            config=recorded_config(0.5),
            run_id=RUN,
            both_tiers=True,
        )
        yield writable


def _request(ledger: Ledger, question_id: str) -> str:
    requests = run_requests(ledger, RUN)
    return str(requests[requests["question_id"] == question_id]["request_id"].iloc[0])


def _grade(ledger: Ledger, qid: str, score: float, *, tier: str | None = None) -> list[str]:
    label = Label(RUN, _request(ledger, qid), "grade", author="ann", tier=tier, score=score)
    return add_labels(ledger, [label])


def test_a_question_without_reference_is_unknown_and_means_say_n_of_m(ledger: Ledger) -> None:
    requests = run_requests(ledger, RUN)
    q3 = requests[requests["question_id"] == "q3"].iloc[0]
    assert q3["quality"] != q3["quality"]  # NULL, not 0
    summary = run_summary(ledger, RUN)
    assert (summary.labelled, summary.requests) == (2, 3)
    known = requests["quality"].dropna()
    assert summary.mean_quality == pytest.approx(known.mean())
    assert "(2 of 3 labelled;" in format_summary(summary, ledger_path="l.duckdb")
    result = sweep(ledger, RUN)
    assert (result.premium_labelled, result.cheap_labelled) == (2, 2)
    assert all(p.labelled == 2 for p in result.points)
    assert "(2 of 3 labelled)" in format_sweep(result)
    ab = compare_thresholds(ledger, RUN, 0.0, 1.0, resamples=50)
    assert (ab.labelled_a, ab.labelled_b) == (2, 2)
    assert "A 2 of 3, B 2 of 3 labelled" in ab.labelled


def test_a_grade_sets_that_tiers_quality_and_the_sweep_follows(ledger: Ledger) -> None:
    before = sweep(ledger, RUN)
    _grade(ledger, "q1", 0.0, tier="cheap")
    _grade(ledger, "q2", 0.25, tier="premium")
    outcomes = run_tier_outcomes(ledger, RUN).set_index(["request_id", "tier"])
    q1, q2 = _request(ledger, "q1"), _request(ledger, "q2")
    assert outcomes.loc[(q1, "cheap"), "quality"] == 0.0
    assert outcomes.loc[(q2, "premium"), "quality"] == 0.25
    after = sweep(ledger, RUN)
    all_cheap = next(p for p in after.points if p.threshold == 1.0)  # every request cheap
    old_cheap = next(p for p in before.points if p.threshold == 1.0)
    others = outcomes.xs("cheap", level="tier")["quality"].dropna()
    assert all_cheap.mean_quality == pytest.approx(others.mean())
    assert all_cheap.mean_quality != pytest.approx(old_cheap.mean_quality)
    assert after.premium_quality != pytest.approx(before.premium_quality)


def test_labels_are_appended_and_the_latest_wins(ledger: Ledger) -> None:
    _grade(ledger, "q1", 0.2, tier="premium")
    _grade(ledger, "q1", 0.9, tier="premium")
    assert _count(ledger) == 2  # nothing overwritten
    latest = latest_labels(ledger, RUN)
    assert list(latest["score"]) == [0.9]
    outcomes = run_tier_outcomes(ledger, RUN).set_index(["request_id", "tier"])
    assert outcomes.loc[(_request(ledger, "q1"), "premium"), "quality"] == 0.9


def test_a_reference_label_rescores_the_answers_offline(ledger: Ledger) -> None:
    q3 = _request(ledger, "q3")
    label = Label(RUN, q3, "reference", author="ann", reference="Within 15 minutes.",
                  key_facts=("15 minutes",))  # fmt: skip
    add_labels(ledger, [label])
    outcomes = run_tier_outcomes(ledger, RUN)
    answers = (
        ledger.cursor()
        .execute("SELECT tier, answer FROM tier_outcomes WHERE request_id = ?", [q3])
        .fetchall()
    )
    for tier, answer in answers:
        expected = score_answer(answer or "", reference="Within 15 minutes.",
                                key_facts=("15 minutes",))  # fmt: skip
        got = outcomes[(outcomes["request_id"] == q3) & (outcomes["tier"] == tier)]["quality"]
        assert expected is not None and float(got.iloc[0]) == pytest.approx(expected.score)
    assert run_summary(ledger, RUN).labelled == 3
    # a grade beats the reference's score
    _grade(ledger, "q3", 0.5)  # tier None: the routed answer
    routed = run_requests(ledger, RUN).set_index("question_id").loc["q3"]
    assert routed["quality"] == 0.5


def test_a_deleted_question_drops_out_of_the_means(ledger: Ledger) -> None:
    add_labels(ledger, [Label(RUN, _request(ledger, "q1"), "question_delete", author="ann")])
    summary = run_summary(ledger, RUN)
    assert (summary.labelled, summary.requests) == (1, 3)
    assert sweep(ledger, RUN).premium_labelled == 1


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (dict(kind="grade", score=1.5), "between 0 and 1, not 1.5"),
        (dict(kind="grade", score=None), "needs a score"),
        (dict(kind="reference"), "reference answer or at least one key fact"),
        (dict(kind="preference", preferred_tier="best"), "cheap, premium or tie"),
        (dict(kind="grade", score=0.5, run_id="nope"), "run nope does not exist"),
        (dict(kind="grade", score=0.5, author=" "), "needs an author"),
        (dict(kind="grade", score=0.5, tier="gold"), "tier must be"),
    ],
)
def test_a_bad_label_is_refused_and_nothing_is_lost(
    ledger: Ledger, label: dict[str, object], message: str
) -> None:
    _grade(ledger, "q2", 0.7)
    fields: dict[str, object] = {"run_id": RUN, "request_id": _request(ledger, "q1"),
                                 "author": "ann", **label}  # fmt: skip
    good = Label(RUN, _request(ledger, "q1"), "grade", author="ann", score=0.1)
    with pytest.raises(LabelError, match=message):
        add_labels(ledger, [good, Label(**fields)])  # type: ignore[arg-type]
    assert _count(ledger) == 1  # neither label of the batch, the earlier one kept
    assert list(latest_labels(ledger, RUN)["score"]) == [0.7]


def test_write_back_keeps_untouched_lines_and_is_loadable(ledger: Ledger, dataset: Path) -> None:
    q1, q2, q3 = (_request(ledger, q) for q in ("q1", "q2", "q3"))
    original = (dataset / "questions.jsonl").read_text().splitlines(keepends=True)
    add_labels(
        ledger,
        [
            Label(RUN, q3, "question_edit", author="ann", question="How fast is a page acked?"),
            Label(RUN, q3, "reference", author="ann", reference="Within 15 minutes.",
                  key_facts=("15 minutes",)),
            Label(RUN, q2, "question_delete", author="ann"),
            Label(RUN, q1, "grade", author="ann", score=0.3),
        ],
    )  # fmt: skip
    rows = latest_labels(ledger, RUN).to_dict("records")
    result = write_labels_to_dataset(dataset_folder(str(dataset), run_id=RUN), rows)
    assert (result.changed, result.deleted) == (1, 1)
    lines = (dataset / "questions.jsonl").read_text().splitlines(keepends=True)
    assert lines[0] == original[0]  # q1: graded only, its line byte for byte
    assert len(lines) == len(original) - 1
    q3_line = json.loads(lines[1])
    assert q3_line["text"] == "How fast is a page acked?"
    assert q3_line["reference"] == "Within 15 minutes." and q3_line["key_facts"] == ["15 minutes"]
    assert "proposed" not in q3_line and q3_line["needs_screen"] is False
    loaded = load_dataset(dataset)
    assert [q.id for q in loaded.questions] == ["q1", "q3"]
    assert not list(dataset.glob(".questions.jsonl.*"))  # no temporary file left


def test_write_back_refuses_a_moved_dataset(ledger: Ledger, dataset: Path) -> None:
    moved = dataset.with_name("moved")
    dataset.rename(moved)
    with pytest.raises(DatasetError, match="not there any more"):
        dataset_folder(str(dataset), run_id=RUN)
    stranger = [{"question_id": "zz", "kind": "question_accept", "created_at": "1",
                 "label_id": "x"}]  # fmt: skip
    before = (moved / "questions.jsonl").read_bytes()
    with pytest.raises(DatasetError, match="none of the labelled questions"):
        write_labels_to_dataset(moved, stranger)
    assert (moved / "questions.jsonl").read_bytes() == before


def test_labels_command(
    ledger: Ledger, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _grade(ledger, "q1", 0.4, tier="cheap")
    add_labels(ledger, [Label(RUN, _request(ledger, "q3"), "reference", author="ann",
                              key_facts=("15",))])  # fmt: skip
    path = ledger.path
    ledger.close()
    assert main(["labels", "--run", RUN, "--ledger", path]) == 0
    out = capsys.readouterr().out
    assert "2 label rows, 2 in force (grade 1, reference 1)" in out
    assert "(3 of 3 labelled)" in out
    export = tmp_path / "labels.jsonl"
    assert main(["labels", "--run", RUN, "--ledger", path, "--export", str(export)]) == 0
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"grade", "reference"} and rows[0]["author"] == "ann"
    assert main(["labels", "--run", RUN, "--ledger", path, "--write-dataset"]) == 0
    assert "1 questions changed" in capsys.readouterr().out
    assert load_dataset(dataset).questions[2].key_facts == ("15",)
    assert main(["labels", "--run", "nope", "--ledger", path]) == 2
    assert "run nope does not exist" in capsys.readouterr().err


def test_the_learned_router_trains_from_labels(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.analysis.labels import train_router_from_labels
    from assistant.routing.learned import LogisticModel

    _grade(ledger, "q1", 0.0, tier="cheap")
    _grade(ledger, "q1", 1.0, tier="premium")
    add_labels(ledger, [Label(RUN, _request(ledger, "q2"), "preference", author="ann",
                              preferred_tier="cheap")])  # fmt: skip
    trained = train_router_from_labels(ledger, RUN)
    assert (trained.rows, trained.from_people, trained.from_preferences, trained.skipped) == (
        2, 2, 1, 1
    )  # fmt: skip
    assert "on 2 labelled requests" in trained.sentence
    deleted = [
        Label(RUN, _request(ledger, q), "question_delete", author="ann") for q in ("q1", "q2")
    ]
    add_labels(ledger, deleted)
    with pytest.raises(ValueError, match="no request with both tiers"):
        train_router_from_labels(ledger, RUN)
    add_labels(ledger, [Label(RUN, r.request_id, "question_accept", author="ann") for r in deleted])
    weights = tmp_path / "w.json"
    path = ledger.path
    ledger.close()
    assert main(["labels", "--run", RUN, "--ledger", path, "--train-router", str(weights)]) == 0
    assert "trained the learned router on 2 labelled requests" in capsys.readouterr().out
    assert LogisticModel.load(weights).trained_rows == 2


def test_the_text_router_trains_from_labels(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.routing.text import TextModel

    _grade(ledger, "q1", 0.0, tier="cheap")
    _grade(ledger, "q1", 1.0, tier="premium")
    add_labels(ledger, [Label(RUN, _request(ledger, "q2"), "preference", author="ann",
                              preferred_tier="cheap")])  # fmt: skip
    weights = tmp_path / "text.json"
    path = ledger.path
    ledger.close()
    argv = ["labels", "--run", RUN, "--ledger", path, "--train-router", str(weights)]
    assert main([*argv, "--kind", "text"]) == 0
    assert "trained the text router on 2 labelled requests" in capsys.readouterr().out
    model = TextModel.load(weights)
    assert model.trained_rows == 2 and model.trained_on == (f"run {RUN}",)
