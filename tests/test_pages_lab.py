"""The Routing lab page from app.py, every tab: on an empty ledger (with the button that replays
the demo with both tiers in the background) and on two replayed demo runs (threshold 0.6;
threshold 0.3 with exploration and both tiers recorded)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.configs import recorded_config

import assistant.views.lab as lab_views
from assistant.analysis.ab import compare_thresholds
from assistant.analysis.sweep import sweep
from assistant.jobs.runner import list_jobs, load_job, wait_job
from assistant.ledger import Ledger
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views import reading
from assistant.views.lab import (
    AB_HINT,
    LAB_DEMO_LABEL,
    NO_COUNTERFACTUAL,
    benchmark_chart_routers,
    lab_demo_request,
    read_ab_runs,
    read_ipw_curve,
)
from pages.lab import TABS as LAB_TABS

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "datasets" / "demo"
PAGE = "pages/routing_lab.py"
TABS = [t.title for t in LAB_TABS]


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo replayed twice (recorded transcripts): ``plain`` at threshold 0.6, and
    ``explore`` at 0.3 with 30% of requests routed at random and both tiers recorded."""
    path = tmp_path_factory.mktemp("lab") / "demo.duckdb"
    dataset = load_dataset(DEMO)
    base = recorded_config(0.3)
    exploring = dataclasses.replace(
        base, routing=dataclasses.replace(base.routing, explore_share=0.3)
    )
    with Ledger(path) as writable:
        replay(dataset, ledger=writable, config=recorded_config(0.6), run_id="plain")
        replay(dataset, ledger=writable, config=exploring, run_id="explore", both_tiers=True)
    return path


def _page(ledger: Path, tab: str | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.session_state["wb.ledger"] = str(ledger)
    app.run()
    app.switch_page(PAGE)
    if tab is not None:
        app.session_state["lab.tab"] = tab
    return app.run()


def _charts(app: AppTest) -> list[object]:
    return list(app.get("vega_lite_chart"))


def _texts(app: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in app.get(kind)]


# --- empty ledger ------------------------------------------------------------------------------


def test_the_page_shows_its_tab_list_in_order(tmp_path: Path) -> None:
    app = _page(tmp_path / "none.duckdb")
    assert not app.exception
    assert app.title[0].value == "Routing lab"
    assert [t.label for t in app.tabs] == TABS
    assert TABS == ["Threshold sweep", "A/B", "From live traffic", "External benchmark"]


@pytest.mark.parametrize("tab", ["A/B", "From live traffic"])
def test_the_run_tabs_on_an_empty_ledger_say_what_to_do(tmp_path: Path, tab: str) -> None:
    app = _page(tmp_path / "none.duckdb", tab)
    assert not app.exception
    infos = " ".join(_texts(app, "info"))
    assert "python -m assistant replay datasets/demo" in infos
    assert not _charts(app) and not app.dataframe


DEMO_BUTTON = "lab.sweep.demo"


def test_the_sweep_on_an_empty_ledger_offers_a_button_not_a_command(tmp_path: Path) -> None:
    app = _page(tmp_path / "none.duckdb")
    assert not app.exception
    assert _texts(app, "info") == [NO_COUNTERFACTUAL]
    button = app.button(key=DEMO_BUTTON)
    assert button.label == "Replay the demo with both tiers"
    assert "--both-tiers" in button.help  # the command is there for who wants it, as help
    assert not _charts(app) and not app.dataframe


@pytest.mark.parametrize(
    ("mode", "key"),
    [
        ("Two thresholds on one --both-tiers run", "lab.ab.thresholds.demo"),
        ("Two threshold pairs (vision, LLM) on one --both-tiers run", "lab.ab.pairs.demo"),
    ],
)
def test_ab_on_one_run_on_an_empty_ledger_offers_the_button(
    tmp_path: Path, mode: str, key: str
) -> None:
    app = _page(tmp_path / "none.duckdb", "A/B")
    app.radio(key="lab.ab.mode").set_value(mode).run()
    assert not app.exception
    assert NO_COUNTERFACTUAL in _texts(app, "info")
    assert app.button(key=key).label == "Replay the demo with both tiers"


def test_the_button_replays_the_demo_with_both_tiers_and_recorded_transcripts(
    tmp_path: Path,
) -> None:
    request = lab_demo_request(tmp_path / "l.duckdb")
    assert Path(request.dataset) == DEMO and request.both_tiers and request.stt == "recorded:"
    assert request.ledger == str(tmp_path / "l.duckdb") and request.label == LAB_DEMO_LABEL


def test_the_button_starts_a_job_shows_its_progress_then_the_run(
    tiny_master: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real job runner; the small session stands in for the demo (same code path, seconds)."""
    monkeypatch.setenv("WORKBENCH_JOBS", str(tmp_path / "jobs"))
    monkeypatch.setattr(lab_views, "LAB_DEMO", tiny_master)
    ledger = tmp_path / "l.duckdb"
    app = _page(ledger)
    assert list_jobs(ledger=str(ledger)) == []
    app.button(key=DEMO_BUTTON).click().run()
    assert not app.exception and not app.error
    (job,) = list_jobs(ledger=str(ledger))
    assert job.label == LAB_DEMO_LABEL and job.dataset == str(tiny_master)
    (step,) = load_job(job.folder).steps
    assert "--both-tiers" in step.argv
    config = tomllib.loads((Path(job.folder) / "config.toml").read_text(encoding="utf-8"))
    assert config["stt"]["provider"] == "recorded:"
    if not wait_job(job, timeout_s=0).done:  # still running: a progress bar, no second button
        assert app.get("progress") and not app.button
    assert wait_job(job, timeout_s=300).state == "finished"
    app.run()
    assert not app.exception
    assert app.selectbox(key="lab.run").value == job.run_ids[0]  # the run, without a reload
    assert app.success[0].value.startswith("Use threshold ")


def test_external_benchmark_needs_no_ledger(tmp_path: Path) -> None:
    app = _page(tmp_path / "none.duckdb", "External benchmark")
    assert not app.exception
    assert len(_charts(app)) == 2  # gsm8k and mtbench
    table = app.dataframe[0].value
    assert set(table["router"]) == {"length", "heuristic", "learned", "text", "random", "oracle"}
    for _, suite in table.groupby("suite"):
        apgr = suite.set_index("router")["apgr"]
        assert apgr["oracle"] > apgr.drop("oracle").max()
        assert apgr["random"] == pytest.approx(0.5, abs=0.05)
    captions = " ".join(_texts(app, "caption"))
    assert "heuristic APGR" in captions and "oracle APGR" in captions
    # the chart's routers: the scorers as views.lab names them, then random and the oracle
    color = app.get("vega_lite_chart")[0].proto.spec
    assert '"domain": ' + json.dumps(list(benchmark_chart_routers())) in color
    # beside it, the cross-suite table: each suite held out, the fitted routers trained on the other
    assert [s.value for s in app.subheader][-2:] == ["In-suite", "Cross-suite"]
    cross = app.dataframe[1].value
    assert set(cross["router"]) == {"length", "heuristic", "learned", "text", "random"}
    fitted = cross[cross["router"].isin(["learned", "text"])]
    assert (fitted["trained_on"] != fitted["suite"]).all()
    assert set(fitted["trained_on"]) == {"gsm8k", "mtbench"}
    assert cross[cross["router"] == "heuristic"]["in_sample"].all()  # tuned on both suites
    assert "held out in turn" in captions


# --- two demo runs -----------------------------------------------------------------------------


def test_sweep_is_the_first_tab(demo_ledger: Path) -> None:
    app = _page(demo_ledger)
    assert not app.exception
    assert app.selectbox(key="lab.run").value == "explore"  # the only --both-tiers run
    assert app.success[0].value.startswith("Use threshold ")
    # the one-threshold sweep (2 charts, its table), then the (vision, LLM) grid: its run has
    # every combination of tiers (2 charts, the Pareto pairs)
    assert len(_charts(app)) == 4 and len(app.dataframe) == 2


def test_ab_of_two_runs_is_paired_by_question(demo_ledger: Path) -> None:
    app = _page(demo_ledger, "A/B")
    assert not app.exception
    assert app.selectbox(key="lab.ab.a").value == "plain"  # older run as the baseline
    assert app.selectbox(key="lab.ab.b").value == "explore"
    captions = " ".join(_texts(app, "caption"))
    assert "A = plain · B = explore" in captions
    assert "paired by question id (20 questions in both runs)" in captions
    statement = " ".join(_texts(app, "info") + _texts(app, "success"))
    assert "large enough" in statement and "bootstrap resamples" in statement
    assert [m.label for m in app.metric] == [
        "B: cost per media hour (USD)",
        "B: mean quality",
        "B: p95 latency (ms)",
    ]
    table = app.dataframe[0].value
    assert list(table["title"]) == [
        "cost per media hour (USD)",
        "mean quality",
        "p95 latency (ms)",
    ]
    for row in table.itertuples():
        assert row.diff == pytest.approx(row.b - row.a)
        assert row.low <= row.high
    assert len(_charts(app)) == 3  # one interval per metric

    app.selectbox(key="lab.ab.b").set_value("plain").run()
    assert not app.exception and any("two different runs" in i for i in _texts(app, "info"))


def test_ab_of_two_thresholds_on_the_both_tiers_run(demo_ledger: Path) -> None:
    app = _page(demo_ledger, "A/B")
    app.radio(key="lab.ab.mode").set_value("Two thresholds on one --both-tiers run").run()
    assert not app.exception
    assert app.selectbox(key="lab.ab.run").value == "explore"
    captions = " ".join(_texts(app, "caption"))
    assert "paired by request (20 requests of run explore" in captions
    table = app.dataframe[0].value.set_index("title")
    with reading(demo_ledger) as ledger:
        points = {p.threshold: p for p in sweep(ledger, "explore", thresholds=(0.3, 0.6)).points}
    assert table.loc["mean quality", "a"] == pytest.approx(points[0.3].mean_quality)
    assert table.loc["mean quality", "b"] == pytest.approx(points[0.6].mean_quality)
    assert table.loc["cost per media hour (USD)", "b"] == pytest.approx(
        points[0.6].cost_per_media_hour_usd
    )
    assert table.loc["p95 latency (ms)", "a"] == pytest.approx(points[0.3].p95_latency_ms)

    app.number_input(key="lab.ab.tb").set_value(0.3).run()  # the same threshold: no difference
    assert not app.exception
    same = app.dataframe[0].value
    assert (same["diff"] == 0).all() and not same["excludes_zero"].any()


def test_live_traffic_estimates_from_the_exploring_run(demo_ledger: Path) -> None:
    app = _page(demo_ledger, "From live traffic")
    assert not app.exception
    assert app.selectbox(key="lab.live.run").value == "explore"  # most explored first
    assert app.selectbox(key="lab.live.reference").value == "explore"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Logged threshold"] == "0.30" and int(metrics["Routed at random"]) > 0
    assert any("routed at random" in i and "effective" in i for i in _texts(app, "info"))
    assert len(_charts(app)) == 2
    points = app.dataframe[0].value
    assert len(points) == 21 and "true_quality" in points
    estimated = points.dropna(subset=["quality_low"])
    assert not estimated.empty
    assert (estimated["quality_low"] <= estimated["quality"] + 1e-9).all()
    assert (estimated["quality"] <= estimated["quality_high"] + 1e-9).all()

    app.selectbox(key="lab.live.run").set_value("plain").run()
    assert not app.exception
    assert any("no explored requests" in i and "explore_share" in i for i in _texts(app, "info"))
    assert not _charts(app)


def test_read_helpers_on_the_demo(demo_ledger: Path) -> None:
    runs = read_ab_runs(demo_ledger).data
    assert runs is not None
    explored = dict(zip(runs["run_id"], runs["explored"], strict=True))
    assert explored["plain"] == 0 and explored["explore"] > 0
    assert read_ab_runs(demo_ledger, "nobody").data is None
    curve = read_ipw_curve(demo_ledger, "explore").data
    assert curve is not None and curve.points is not None and "true_quality" not in curve.points
    with reading(demo_ledger) as ledger:
        result = compare_thresholds(ledger, "explore", 0.0, 1.0)
    assert result.paired and result.n_a == result.n_b == 20
    assert "100% premium" in result.a_label and "(0% premium)" in result.b_label
    assert "replay" in AB_HINT
