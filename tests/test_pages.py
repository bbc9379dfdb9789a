"""The Routing lab and Costs pages, from app.py, on an empty ledger and on a --both-tiers run."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from support.configs import recorded_config

from assistant.ledger import Ledger
from assistant.ledger.queries import run_summary
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views.lab import NO_COUNTERFACTUAL
from assistant.views.workbench import (
    COST_STAGES,
    SWEEP_HINT,
    calls_csv,
    export_calls,
    read_calls,
    read_costs,
    read_sweep,
    read_sweep_runs,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    """A normal run and a --both-tiers run of the small session (recorded transcriber)."""
    path = tmp_path_factory.mktemp("pages") / "l.duckdb"
    dataset = load_dataset(tiny_master)
    with Ledger(path) as writable:
        replay(dataset, ledger=writable, config=recorded_config(0.5), run_id="plain")
        replay(dataset, ledger=writable, config=recorded_config(0.5), run_id="bt", both_tiers=True)
    return path


def _page(ledger: Path, page: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(ledger)
    app.run()
    app.switch_page(page)
    return app.run()


def _charts(app: AppTest) -> list[object]:
    return list(app.get("vega_lite_chart"))


# --- Routing lab -------------------------------------------------------------------------------


def test_routing_lab_on_a_missing_ledger_says_what_to_do(tmp_path: Path) -> None:
    app = _page(tmp_path / "none.duckdb", "pages/routing_lab.py")
    assert not app.exception
    assert app.title[0].value == "Routing lab"
    assert [i.value for i in app.info] == [NO_COUNTERFACTUAL]
    assert app.button(key="lab.sweep.demo").label == "Replay the demo with both tiers"


def test_routing_lab_without_both_tiers_runs_says_what_to_do(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    with Ledger(path) as writable:
        replay(load_dataset(tiny), ledger=writable, config=recorded_config(), run_id="plain")
    app = _page(path, "pages/routing_lab.py")
    assert not app.exception
    assert [i.value for i in app.info] == [NO_COUNTERFACTUAL]
    assert "--both-tiers" in app.button(key="lab.sweep.demo").help


def test_routing_lab_shows_the_sweep(ledger: Path) -> None:
    app = _page(ledger, "pages/routing_lab.py")
    assert not app.exception
    assert app.selectbox(key="lab.run").value == "bt"  # the plain run has no tier outcomes
    assert app.slider(key="lab.target").value == pytest.approx(0.95)
    assert app.success[0].value.startswith("Use threshold ")
    assert len(app.dataframe[0].value) == 21  # 0.00, 0.05, ..., 1.00 (+ the recommendation)
    # then the (vision, LLM) grid: the run holds every combination of tiers (2 charts, a table)
    assert app.success[1].value.startswith("Cheapest pair reaching")
    assert len(app.dataframe) == 2 and len(_charts(app)) == 4
    app.slider(key="lab.target").set_value(0.5).run()
    assert not app.exception and "50%" in app.success[0].value


# --- Costs -------------------------------------------------------------------------------------


def test_costs_on_a_missing_ledger_says_what_to_do(tmp_path: Path) -> None:
    app = _page(tmp_path / "none.duckdb", "pages/costs.py")
    assert not app.exception
    assert app.title[0].value == "Costs"
    assert any("python -m assistant replay datasets/demo" in i.value for i in app.info)


def test_costs_shows_where_the_money_goes(ledger: Path) -> None:
    app = _page(ledger, "pages/costs.py")
    assert not app.exception
    assert [m.label for m in app.metric] == [
        "Runs",
        "Calls",
        "Total cost",
        "Mean cost / media hour",
    ]
    assert app.metric[0].value == "2"
    # where the money goes, spend per tenant and per participant (tests/test_diff_spend.py),
    # then the projections (three tables)
    assert len(app.dataframe) == 6
    assert list(app.dataframe[0].value.columns) == ["stage", "model", "calls", "cost_usd", "share"]
    assert len(_charts(app)) >= 3
    assert len(app.get("download_button")) == 2
    app.session_state["wb.tenant"] = "acme"  # the sidebar selectbox
    app.run()
    assert not app.exception and app.metric[0].value == "2"


# --- workbench helpers -------------------------------------------------------------------------


def test_read_sweep_runs_lists_only_both_tiers_runs(ledger: Path, tmp_path: Path) -> None:
    view = read_sweep_runs(ledger)
    assert view.data is not None and list(view.data["run_id"]) == ["bt"]
    assert read_sweep_runs(ledger, "nobody").message == SWEEP_HINT
    assert SWEEP_HINT in (read_sweep_runs(tmp_path / "none.duckdb").message or "")


def test_read_sweep_marks_pareto_and_recommendation(ledger: Path) -> None:
    view = read_sweep(ledger, "bt", 0.95)
    assert view.data is not None
    points = view.data["points"]
    assert len(points) == 101 and points["pareto"].any()
    assert points["recommended"].sum() == 1
    best = view.data["recommended"]
    assert best is not None and bool(best["pareto"])
    assert best["mean_quality"] >= 0.95 * view.data["premium_quality"] - 1e-9
    assert f"{best['threshold']:.2f}" in view.data["sentence"]
    assert read_sweep(ledger, "plain").message is not None
    assert "--both-tiers" in (read_sweep(ledger, "plain").message or "")


def test_cost_by_stage_adds_up_to_the_runs_total(ledger: Path) -> None:
    view = read_costs(ledger)
    assert view.data is not None
    with Ledger(ledger, read_only=True) as readable:
        total = sum(run_summary(readable, r).total_cost_usd for r in ("plain", "bt"))
    by_stage = view.data["by_stage"]
    assert list(by_stage["stage"])[:4] == list(COST_STAGES)
    assert by_stage["cost_usd"].sum() == pytest.approx(total)
    assert view.data["by_model"]["cost_usd"].sum() == pytest.approx(total)
    where = view.data["where"]
    assert where["cost_usd"].sum() == pytest.approx(total)
    assert where["share"].sum() == pytest.approx(1.0)
    assert all(":" in m for m in where["model"])  # provider:model
    runs = view.data["runs"].set_index("run_id")
    assert runs.loc["bt", "total_cost_usd"] > runs.loc["plain", "total_cost_usd"]


def test_tenant_filter_binds_the_name(ledger: Path) -> None:
    acme = read_costs(ledger, "acme")
    assert acme.data is not None and len(acme.data["runs"]) == 2
    for name in ("o'brien", "x' OR '1'='1", 'a"b'):
        view = read_costs(ledger, name)
        assert view.data is None and name in (view.message or "")
        assert read_sweep_runs(ledger, name).data is None


def test_downloads_round_trip(ledger: Path) -> None:
    view = read_costs(ledger)
    assert view.data is not None
    calls = read_calls(ledger)
    assert len(calls) == view.data["calls"]  # the page counts what the export holds
    assert calls["cost_usd"].sum() == pytest.approx(view.data["total_cost_usd"])
    back = pd.read_parquet(BytesIO(export_calls(ledger, None, "parquet")))
    assert list(back["call_id"]) == list(calls["call_id"])
    assert export_calls(ledger, None, "csv") == calls_csv(calls)
    assert calls_csv(calls).decode().splitlines()[0].startswith("call_id,")
    assert set(read_calls(ledger, "acme")["tenant"]) == {"acme"}
    with pytest.raises(ValueError, match="csv or parquet"):
        export_calls(ledger, None, "xlsx")


def test_pages_import_only_assistant_views() -> None:
    """Pages are layout only: everything they call comes through ``assistant.views`` (the package,
    or the views module a page belongs to); the lab's tab modules and pages/common too."""
    import ast

    found = {}
    for file in [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for module in modules:
                views = module == "assistant.views" or module.startswith("assistant.views.")
                if module.split(".")[0] == "assistant" and not views:
                    found.setdefault(file.name, []).append(module)
    assert not found, f"pages import assistant modules other than assistant.views: {found}"


def test_the_read_side_keeps_its_sql_in_the_ledger() -> None:
    """Every statement lives in ``assistant/ledger`` (reads in ``ledger/queries``); no SQL anywhere else."""
    import re

    sql = re.compile(r"\b(SELECT|INSERT INTO|DELETE FROM)\b")
    package = ROOT / "assistant"
    scanned = [f for f in sorted(package.rglob("*.py")) if "ledger" not in f.relative_to(package).parts]
    assert package / "views" / "workbench.py" in scanned and package / "rag" / "store.py" in scanned
    found = [
        f.relative_to(ROOT).as_posix() for f in scanned if sql.search(f.read_text(encoding="utf-8"))
    ]
    assert not found, f"SQL outside assistant/ledger: {found}"
