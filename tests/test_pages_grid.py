"""The Routing lab's two-decision views (AppTest): the (vision, LLM) threshold grid in the
Threshold sweep tab, the best pair within a budget, and the A/B of two threshold pairs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.configs import recorded_config

from assistant.analysis.grid import compare_pairs, grid_sweep
from assistant.ledger import Ledger
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views import reading

ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/routing_lab.py"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    path = tmp_path_factory.mktemp("pgrid") / "l.duckdb"
    config = recorded_config(0.5).with_routing(vision_threshold=0.2)
    with Ledger(path) as writable:
        replay(
            load_dataset(tiny_master), ledger=writable, config=config, run_id="bt", both_tiers=True
        )
    return path


def _page(ledger: Path, tab: str = "Threshold sweep") -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.session_state["wb.ledger"] = str(ledger)
    app.run()
    app.switch_page(PAGE)
    app.session_state["lab.tab"] = tab
    return app.run()


def test_the_sweep_tab_shows_the_grid_and_the_best_pair_in_a_budget(ledger: Path) -> None:
    app = _page(ledger)
    assert not app.exception
    assert len(app.get("vega_lite_chart")) == 4  # the one-threshold curves, then the grid's two
    successes = [s.value for s in app.success]
    assert any(s.startswith("Cheapest pair reaching 95%") for s in successes)
    pareto = app.dataframe[1].value
    with reading(ledger) as read:
        grid = grid_sweep(read, "bt")
    front = {(p.vision_threshold, p.llm_threshold) for p in grid.pareto(distinct=True)}
    assert set(zip(pareto["vision_threshold"], pareto["llm_threshold"], strict=True)) == front

    cheapest = min(p.cost_per_media_hour_usd or 0 for p in grid.points)
    app.number_input(key="lab.grid.budget").set_value(cheapest * 1.0001).run()
    assert not app.exception
    texts = " ".join(str(s.value) for s in [*app.success, *app.warning])
    assert "Best within $" in texts
    app.number_input(key="lab.grid.budget").set_value(cheapest / 2).run()
    assert any("No pair stays within" in str(w.value) for w in app.warning)


def test_a_one_decision_run_shows_the_line_only(ledger: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    shutil.copy(ledger, old)
    with Ledger(old) as writable:
        writable.cursor().execute(
            "DELETE FROM tier_outcomes WHERE vision_tier <> llm_tier"
        ).fetchall()
    app = _page(old)
    assert not app.exception
    assert len(app.get("vega_lite_chart")) == 2
    assert any("Replay with --both-tiers" in str(c.value) for c in app.caption)


def test_ab_of_two_threshold_pairs(ledger: Path) -> None:
    app = _page(ledger, "A/B")
    mode = "Two threshold pairs (vision, LLM) on one --both-tiers run"
    app.radio(key="lab.ab.mode").set_value(mode).run()
    assert not app.exception
    app.number_input(key="lab.ab.Bv").set_value(0.0).run()
    table = app.dataframe[0].value.set_index("title")
    with reading(ledger) as read:
        want = {m.title: m for m in compare_pairs(read, "bt", (0.3, 0.3), (0.0, 0.3)).metrics}
    for title, m in want.items():
        assert table.loc[title, "a"] == pytest.approx(m.a)
        assert table.loc[title, "b"] == pytest.approx(m.b)
    captions = " ".join(str(c.value) for c in app.caption)
    assert "A = vision 0.30 · LLM 0.30 · B = vision 0.00 · LLM 0.30" in captions
