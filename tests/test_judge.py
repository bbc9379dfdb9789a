"""The LLM judge: grades a run's answers through a real SDK against a local fake of OpenAI's API,
keeps its cost apart from the run's, records unreadable verdicts as errors, never grades twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.configs import recorded_config
from support.fakes.vendors import FakeVendors, RecordedRequest, Reply

from assistant.analysis.judge import Judge, judge_run, parse_verdict
from assistant.cli.registry import main
from assistant.ledger import Ledger
from assistant.ledger.queries import run_summary
from assistant.providers.cloud import CloudOptions
from assistant.providers.vendors.openai.llm import OpenAILLM
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay


def verdicts(request: RecordedRequest, attempt: int) -> Reply:
    """A scripted judge: q1 graded on the date, q2 without a score, q3 half right."""
    body = request.text
    answer = body.split("assistant's answer) ", 1)[-1]
    if "What churn rate is on the slide?" in body:
        return Reply.answer("Looks fine to me.")  # no score: must become an error row
    if "What is the launch date?" in body:
        score = 1.0 if "March 14" in answer or "14 March" in answer else 0.0
    else:
        score = 0.5
    return Reply.answer(json.dumps({"score": score, "reason": "compared with the reference"}),
                        input_tokens=400, output_tokens=20)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"score": 0.5, "reason": "misses the budget"}', (0.5, "misses the budget")),
        ('```json\n{"score": 1, "reason": "ok"}\n```', (1.0, "ok")),
        ("Score: 0.25 because it is vague", (0.25, None)),
    ],
)
def test_verdicts_are_parsed(reply: str, expected: tuple[float, str | None]) -> None:
    assert parse_verdict(reply) == expected


@pytest.mark.parametrize("reply", ["Looks right.", '{"score": 7}', '{"score": "high"}', ""])
def test_a_verdict_without_a_score_in_range_is_refused(reply: str) -> None:
    with pytest.raises(ValueError, match="no score in"):
        parse_verdict(reply)


def test_a_run_is_judged_once_with_its_cost_kept_apart(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    with Ledger(path) as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=recorded_config(), run_id="r")
        cost_before = run_summary(ledger, "r").total_cost_usd
    with FakeVendors() as fake, Ledger(path) as ledger:
        fake.script(verdicts)
        llm = OpenAILLM(CloudOptions("gpt-4o", api_key="sk-test-judge", base_url=fake.openai_url))
        summary = judge_run(ledger, "r", Judge(llm))
        rows = ledger.cursor().execute(
            "SELECT request_id, tier, judge_model, score, status, error, cost_usd "
            "FROM judgements ORDER BY request_id"
        ).fetchall()
        again = judge_run(ledger, "r", Judge(llm))
        sent = fake.of("openai")
        assert run_summary(ledger, "r").total_cost_usd == cost_before  # the judge's cost is apart
        answers = dict(ledger.cursor().execute(
            "SELECT request_id, answer FROM requests WHERE run_id = 'r'").fetchall())
    assert len(rows) == 3 and {r[2] for r in rows} == {"openai:gpt-4o"}
    by_id = {r[0]: r for r in rows}
    q1 = by_id["r:q1"]  # "What is the launch date?" (reference: March 14)
    assert q1[4] == "ok" and q1[3] == (1.0 if "March 14" in (answers["r:q1"] or "") else 0.0)
    errors = [r for r in rows if r[4] == "error"]
    assert len(errors) == summary.errors == 1 and "no score in [0, 1]" in errors[0][5]
    assert all(r[6] > 0 for r in rows)  # gpt-4o priced by genai-prices: 400 in + 20 out tokens
    assert summary.cost_usd == pytest.approx(sum(r[6] for r in rows))
    # the judge saw the reference and the answer, under its own system prompt
    first = sent[0].body
    assert "You grade answers" in first["messages"][0]["content"]
    assert "reference" in first["messages"][1]["content"]
    # a second pass grades only what failed before
    assert again.skipped == 2 and again.graded + again.errors == 1 and len(sent) == 4


def test_the_judge_command(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "l.duckdb"
    replay(load_dataset(tiny), ledger=path, config=recorded_config(), run_id="r")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["judge", "--run", "r", "--ledger", str(path)]) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and "offline score" in err
    with FakeVendors() as fake:
        fake.script(verdicts)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        assert main(["judge", "--run", "r", "--ledger", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["graded"] + summary["errors"] == 3 and summary["cost_usd"] > 0
    assert main(["judge", "--run", "nope", "--ledger", str(path)]) == 2
    assert "run nope does not exist" in capsys.readouterr().err


def test_the_runs_page_shows_the_judges_grades(tiny: Path, tmp_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    from assistant.views.workbench import read_run

    path = tmp_path / "l.duckdb"
    replay(load_dataset(tiny), ledger=path, config=recorded_config(), run_id="r")
    app = AppTest.from_file(str(Path(__file__).parents[1] / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(path)
    app.run()
    assert not app.exception
    assert any("python -m assistant judge --run r" in c.value for c in app.caption)
    with FakeVendors() as fake, Ledger(path) as ledger:
        fake.script(verdicts)
        llm = OpenAILLM(CloudOptions("gpt-4o", api_key="sk-test-judge", base_url=fake.openai_url))
        judge_run(ledger, "r", Judge(llm))
    view = read_run(path, "r")
    assert view.data is not None and view.data["judge"]["graded"] == 2  # q2's verdict had no score
    assert view.data["requests"]["judge_score"].notna().sum() == 2
    import streamlit as st

    st.cache_data.clear()  # the page caches its reads for 5 s
    app = AppTest.from_file(str(Path(__file__).parents[1] / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(path)
    app.run()
    assert not app.exception
    assert any("LLM judge (openai:gpt-4o): mean grade" in c.value for c in app.caption)
