"""The Label page from app.py on a --both-tiers demo run: two answers graded, the sweep follows,
the labels survive an app restart, a bad label is one message and loses nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.configs import recorded_config
from support.pages import DEMO, open_page

from assistant.ledger import Ledger
from assistant.ledger.owner import release
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views import ErrorKind
from assistant.views.labels import Label, read_label_run, save_labels
from assistant.views.workbench import read_sweep

PAGE = "pages/label.py"
RUN = "bt"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --both-tiers replay of a copy of the demo (the page may write into its questions)."""
    root = tmp_path_factory.mktemp("label")
    dataset = Path(shutil.copytree(DEMO, root / "demo"))
    path = root / "labels.duckdb"
    with Ledger(path) as writable:
        replay(
            load_dataset(dataset),
            ledger=writable,
            config=recorded_config(0.3),
            run_id=RUN,
            both_tiers=True,
        )
    yield path
    release(path)


def _errors(app: object) -> list[str]:
    return [str(e.value) for e in app.error]  # type: ignore[attr-defined]


def test_empty_ledger_says_what_to_do(tmp_path: Path) -> None:
    app = open_page(tmp_path / "none.duckdb", PAGE)
    assert not app.exception
    assert app.title[0].value == "Label"
    assert "python -m assistant replay datasets/demo" in " ".join(str(i.value) for i in app.info)


def test_label_two_answers_and_the_sweep_follows(ledger: Path) -> None:
    before = read_sweep(ledger, RUN).data
    assert before is not None
    items = read_label_run(ledger, RUN).data["items"]  # type: ignore[index]
    first, second = items[0], items[1]
    app = open_page(ledger, PAGE, state={"label.author": "tester"})
    assert not app.exception, app.exception
    caption = " ".join(str(c.value) for c in app.caption)
    assert "20 of 20 labelled" in caption and "both tiers' answers recorded" in caption
    assert app.selectbox(key="label.request").value == first["request_id"]
    assert len(app.image) == 1  # the screen at the question's time

    # grade the first question's cheap answer and the second's premium one, each the opposite
    # of what the offline score said
    grades = {}
    for item, tier in ((first, "cheap"), (second, "premium")):
        app.selectbox(key="label.request").set_value(item["request_id"]).run()
        stored = item["answers"][tier]["quality"]
        grade = 0.0 if stored >= 0.5 else 1.0
        grades[tier] = (stored, grade)
        app.number_input(key=f"label.score.{item['request_id']}.{tier}").set_value(grade).run()
        app.button(key=f"label.grade.{item['request_id']}.{tier}").click().run()
        assert not app.exception, app.exception
        assert [str(s.value) for s in app.success] == ["Stored 1 label."]

    after = read_sweep(ledger, RUN).data
    assert after is not None
    n = 20
    old, new = grades["cheap"]
    assert after["cheap_quality"] == pytest.approx(before["cheap_quality"] + (new - old) / n)
    old, new = grades["premium"]
    assert after["premium_quality"] == pytest.approx(before["premium_quality"] + (new - old) / n)

    lab = open_page(ledger, "pages/routing_lab.py", state={"lab.tab": "Threshold sweep"})
    assert not lab.exception
    captions = " ".join(str(c.value) for c in lab.caption)
    assert f"all-premium quality {after['premium_quality']:.3f}" in captions
    assert "20 of 20 labelled" in captions

    # an app restart: the owner lets the file go, a fresh AppTest reads the labels back
    release(ledger)
    again = open_page(ledger, PAGE)
    assert not again.exception
    history = again.dataframe[0].value
    assert list(history["kind"]) == ["grade", "grade"]
    assert set(history["author"]) == {"tester"}
    assert sorted(history["tier"]) == ["cheap", "premium"]


def test_a_bad_label_is_one_message_and_loses_nothing(ledger: Path) -> None:
    app = open_page(ledger, PAGE, state={"label.author": "tester"})
    rid = app.selectbox(key="label.request").value
    rows_before = len(app.dataframe[0].value) if app.dataframe else 0
    app.number_input(key=f"label.score.{rid}.cheap").set_value(1.5).run()
    app.button(key=f"label.grade.{rid}.cheap").click().run()
    assert not app.exception
    assert _errors(app) == ["Not stored: a grade's score must be between 0 and 1, not 1.5."]
    assert not app.success
    rows_after = len(app.dataframe[0].value) if app.dataframe else 0
    assert rows_after == rows_before

    unknown = save_labels(ledger, [Label("nope", rid, "grade", author="tester", score=0.5)])
    assert unknown.error is ErrorKind.INVALID
    assert unknown.message == f"Not stored: run nope does not exist in {ledger}."
    again = open_page(ledger, PAGE)
    assert (len(again.dataframe[0].value) if again.dataframe else 0) == rows_before
