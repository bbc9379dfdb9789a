"""Projected costs in the pages (AppTest): the Costs page's scenarios beside the measured costs,
and the Routing lab's sweep and A/B on a scenario's projected costs."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.configs import recorded_config

from assistant.ledger import Ledger
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views.projection import PROJECT_HINT, read_projected_costs, read_sweep_scenarios
from assistant.views.workbench import read_sweep

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    path = tmp_path_factory.mktemp("projected") / "l.duckdb"
    with Ledger(path) as writable:
        replay(
            load_dataset(tiny_master),
            ledger=writable,
            config=recorded_config(0.5),
            run_id="bt",
            both_tiers=True,
        )
    return path


def _page(ledger: Path, page: str, state: dict[str, object] | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(ledger)
    for key, value in (state or {}).items():
        app.session_state[key] = value
    app.run()
    app.switch_page(page)
    return app.run()


def test_projected_costs_sit_beside_the_measured_ones(ledger: Path) -> None:
    view = read_projected_costs(ledger)
    assert view.data is not None
    assert view.data["scenarios"] == ["budget", "seed"]
    stages = view.data["by_stage"]
    assert set(stages["stage"]) == {"stt", "vision", "llm"}
    seed = stages[stages["scenario"] == "seed"].set_index("stage")
    assert (seed["projected_usd_per_hour"] > 0).all()
    assert seed.loc["llm", "measured_usd_per_hour"] > 0  # what was paid, in its own column


def test_costs_page_shows_each_scenarios_projection(ledger: Path) -> None:
    app = _page(ledger, "pages/costs.py")
    assert not app.exception
    box = app.selectbox(key="costs.scenario")
    assert box.options == ["budget", "seed"]
    runs = app.dataframe[1].value
    assert list(runs.columns) == ["run_id", "projected_usd_per_hour", "measured_usd_per_hour"]
    budget = float(runs["projected_usd_per_hour"].iloc[0])
    models = app.dataframe[3].value
    assert "token_method" in models.columns and "tiktoken:o200k_base" in set(models["token_method"])
    box.set_value("seed").run()
    assert not app.exception
    seed = float(app.dataframe[1].value["projected_usd_per_hour"].iloc[0])
    assert seed > budget > 0
    assert "openai:gpt-4o-mini" in set(app.dataframe[3].value["model"])


def test_costs_page_without_projections_says_how(tmp_path: Path, ledger: Path) -> None:
    import shutil

    path = Path(shutil.copy(ledger, tmp_path / "none.duckdb"))
    with Ledger(path) as writable:
        writable.cursor().execute("DELETE FROM projections").fetchall()
    app = _page(path, "pages/costs.py")
    assert not app.exception and any(PROJECT_HINT in i.value for i in app.info)


def test_sweep_reads_a_scenarios_projected_costs(ledger: Path) -> None:
    assert read_sweep_scenarios(ledger, "bt") == ["measured", "budget", "seed"]
    measured = read_sweep(ledger, "bt").data
    seed = read_sweep(ledger, "bt", scenario="seed").data
    assert measured is not None and seed is not None
    assert list(seed["points"]["mean_quality"]) == list(measured["points"]["mean_quality"])
    assert seed["cost_title"].startswith("projected") and "seed" in seed["cost_title"]
    all_premium = seed["points"].iloc[0]["cost_usd"]
    all_cheap = seed["points"].iloc[-1]["cost_usd"]
    assert all_premium > all_cheap > measured["points"].iloc[0]["cost_usd"]
    missing = read_sweep(ledger, "bt", scenario="nope")
    assert missing.data is None and "python -m assistant project --run bt" in missing.message


def test_routing_lab_sweep_and_ab_switch_to_projected_costs(ledger: Path) -> None:
    app = _page(ledger, "pages/routing_lab.py")
    assert not app.exception
    box = app.selectbox(key="lab.scenario")
    assert box.options == ["measured", "budget", "seed"] and box.value == "measured"
    measured = app.dataframe[0].value["cost_per_media_hour_usd"].iloc[0]
    box.set_value("seed").run()
    assert not app.exception
    projected = app.dataframe[0].value["cost_per_media_hour_usd"].iloc[0]
    assert projected > measured
    app = _page(
        ledger,
        "pages/routing_lab.py",
        {"lab.tab": "A/B", "lab.ab.mode": "Two thresholds on one --both-tiers run"},
    )
    assert not app.exception
    app.selectbox(key="lab.ab.scenario").set_value("budget").run()
    assert not app.exception
    assert any("cost per media hour" in m.label for m in app.metric)
