"""Two routing decisions: the (vision, LLM) threshold grid and budget calibration, each checked
against a brute-force replay of the routing rule over the same both-tier outcomes."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.configs import recorded_config
from support.outcomes import brute_force, write_both_tier_run

from assistant.analysis.budget import (
    calibrate_budget,
    ipw_grid,
    premium_share_thresholds,
)
from assistant.analysis.grid import GRID_THRESHOLDS, grid_sweep
from assistant.analysis.sweep import sweep
from assistant.cli.registry import main
from assistant.core.errors import LedgerError
from assistant.ledger import Ledger
from assistant.ledger.queries import run_requests
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

STT = 1e-4
DURATION = 600.0
ODD = (0.0, 0.13, 0.35, 0.4, 0.5, 0.77, 1.0, 1.01)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list]]:
    path = tmp_path_factory.mktemp("grid") / "l.duckdb"
    with Ledger(path) as ledger:
        runs = {
            "grid": write_both_tier_run(ledger, "grid", n=60, seed=1),
            "linked": write_both_tier_run(ledger, "linked", n=60, seed=2, linked=True),
        }
    return path, runs


def _same(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


def test_every_grid_pair_equals_a_brute_force_replay(synthetic: tuple[Path, dict]) -> None:
    path, runs = synthetic
    thresholds = sorted({*GRID_THRESHOLDS, *ODD})
    with Ledger(path, read_only=True) as ledger:
        grid = grid_sweep(ledger, "grid", vision_thresholds=thresholds, llm_thresholds=thresholds)
    assert len(grid.points) == len(thresholds) ** 2
    for p in grid.points:
        want = brute_force(
            runs["grid"], p.vision_threshold, p.llm_threshold, stt_cost_usd=STT, duration_s=DURATION
        )
        for key, value in want.items():
            assert _same(getattr(p, key), value), (p, key, value)
    # the Pareto set is exactly the pairs no brute-force pair dominates
    brute = [
        (tv, tl, brute_force(runs["grid"], tv, tl, stt_cost_usd=STT, duration_s=DURATION))
        for tv in thresholds
        for tl in thresholds
    ]

    def dominated(c: float, q: float) -> bool:
        return any(
            b["total_cost_usd"] <= c
            and b["mean_quality"] >= q
            and (b["total_cost_usd"] < c or b["mean_quality"] > q)
            for _, _, b in brute
        )

    front = {(p.vision_threshold, p.llm_threshold) for p in grid.pareto()}
    want_front = {
        (tv, tl) for tv, tl, b in brute if not dominated(b["total_cost_usd"], b["mean_quality"])
    }
    assert front == want_front and front


def test_the_diagonal_of_a_one_decision_run_is_the_one_threshold_sweep(
    synthetic: tuple[Path, dict],
) -> None:
    path, _ = synthetic
    thresholds = sorted({*GRID_THRESHOLDS, *ODD})
    with Ledger(path, read_only=True) as ledger:
        grid = grid_sweep(ledger, "linked", vision_thresholds=thresholds, llm_thresholds=thresholds)
        line = sweep(ledger, "linked", thresholds=thresholds)
    diagonal = [p for p in grid.points if p.vision_threshold == p.llm_threshold]
    assert len(diagonal) == len(line.points)
    for d, s in zip(diagonal, line.points, strict=True):
        assert d.llm_threshold == s.threshold and d.llm_premium_share == s.premium_share
        assert _same(d.total_cost_usd, s.total_cost_usd) and d.labelled == s.labelled
        assert _same(d.mean_quality, s.mean_quality)
        assert d.p95_latency_ms == pytest.approx(s.p95_latency_ms, rel=1e-9)
    assert grid.premium_quality == pytest.approx(line.premium_quality)


@pytest.mark.parametrize("budget", [0.0, 0.5, 0.8, 1.0, 1.3, 2.0, 100.0])
def test_budget_calibration_is_the_best_pair_within_it_by_brute_force(
    synthetic: tuple[Path, dict], budget: float
) -> None:
    path, runs = synthetic
    with Ledger(path, read_only=True) as ledger:
        choice = calibrate_budget(ledger, "grid", budget)
    brute = [
        (tv, tl, brute_force(runs["grid"], tv, tl, stt_cost_usd=STT, duration_s=DURATION))
        for tv in GRID_THRESHOLDS
        for tl in GRID_THRESHOLDS
    ]
    within = [b for b in brute if b[2]["cost_per_media_hour_usd"] <= budget]
    assert choice.method == "exact" and choice.tenant == "acme"
    assert choice.cheapest_usd_per_hour == pytest.approx(
        min(b[2]["cost_per_media_hour_usd"] for b in brute)
    )
    if not within:
        assert choice.llm_threshold is None and "No threshold pair" in choice.sentence
        return
    best_quality = max(b[2]["mean_quality"] for b in within)
    assert choice.mean_quality == pytest.approx(best_quality)
    assert choice.cost_per_media_hour_usd is not None
    assert choice.cost_per_media_hour_usd <= budget
    picked = brute_force(
        runs["grid"],
        choice.vision_threshold or 0.0,
        choice.llm_threshold or 0.0,
        stt_cost_usd=STT,
        duration_s=DURATION,
    )
    assert picked["mean_quality"] == pytest.approx(best_quality)
    assert "[routing.tenant_budget_usd_per_hour]" in choice.toml()


def test_budget_between_the_extremes_picks_a_mixed_pair(synthetic: tuple[Path, dict]) -> None:
    path, _ = synthetic
    with Ledger(path, read_only=True) as ledger:
        grid = grid_sweep(ledger, "grid")
    costs = sorted(p.cost_per_media_hour_usd or 0 for p in grid.points)
    budget = (costs[0] + costs[-1]) / 2
    best = grid.within_budget(budget)
    assert best is not None and best.vision_threshold != best.llm_threshold


def test_ipw_grid_equals_a_brute_force_weighting() -> None:
    rng = np.random.default_rng(3)
    n = 200
    screen = rng.random(n) < 0.5
    tier = np.where(rng.random(n) < 0.5, "premium", "cheap")
    v_tier = np.where(screen, np.where(rng.random(n) < 0.5, "premium", "cheap"), None)
    frame = pd.DataFrame(
        {
            "score": rng.random(n),
            "vision_score": np.where(screen, rng.random(n), np.nan),
            "needs_screen": screen,
            "tier": tier,
            "vision_tier": v_tier,
            "propensity": rng.uniform(0.2, 1.0, n),
            "vision_propensity": np.where(screen, rng.uniform(0.2, 1.0, n), np.nan),
            "quality": np.where(rng.random(n) < 0.9, rng.random(n), np.nan),
            "total_cost_usd": rng.uniform(1e-5, 1e-4, n),
            "explored": rng.random(n) < 0.3,
        }
    )
    grid = (0.0, 0.3, 0.5, 0.9)
    points = ipw_grid(
        frame, split=True, shared_cost_usd=1e-3, media_duration_s=900, thresholds=grid
    )
    assert len(points) == 16
    rows = [r for r in frame.to_dict("records") if r["quality"] == r["quality"]]
    for p in points:
        w_sum = q_sum = c_sum = 0.0
        for r in rows:  # literally: does the pair pick the logged tiers? weight 1 / P(both)
            t = "premium" if r["score"] >= p.llm_threshold else "cheap"
            if t != r["tier"]:
                continue
            w = 1 / r["propensity"]
            if r["needs_screen"]:
                v = "premium" if r["vision_score"] >= p.vision_threshold else "cheap"
                if v != r["vision_tier"]:
                    continue
                w /= r["vision_propensity"]
            w_sum += w
            q_sum += w * r["quality"]
            c_sum += w * r["total_cost_usd"]
        assert p.mean_quality == pytest.approx(q_sum / w_sum)
        assert p.cost_per_media_hour_usd == pytest.approx((1e-3 + n * c_sum / w_sum) / 0.25)


def test_premium_share_thresholds_per_decision() -> None:
    frame = pd.DataFrame(
        {
            "score": [0.1, 0.2, 0.3, 0.4],
            "vision_score": [np.nan, 0.9, np.nan, 0.5],
            "needs_screen": [False, True, False, True],
        }
    )
    vision, llm = premium_share_thresholds(frame, 0.5)
    assert sum(s >= llm for s in frame["score"]) == 2
    assert vision == pytest.approx(0.7)  # one of the two screen questions


# --- real replays --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    path = tmp_path_factory.mktemp("split") / "l.duckdb"
    dataset = load_dataset(tiny_master)
    split = recorded_config(0.5).with_routing(vision_threshold=0.0)
    explored = recorded_config(0.5).with_routing(vision_threshold=0.2, explore_share=1.0)
    with Ledger(path) as ledger:
        replay(dataset, ledger=ledger, config=recorded_config(0.5), run_id="default")
        replay(dataset, ledger=ledger, config=split, run_id="split")
        replay(dataset, ledger=ledger, config=split, run_id="split-bt", both_tiers=True)
        replay(dataset, ledger=ledger, config=explored, run_id="explored")
        replay(
            dataset, ledger=ledger, config=recorded_config(0.5), run_id="one-bt", both_tiers=True
        )
    return path


def test_a_split_run_records_both_decisions_and_default_runs_do_not_change(
    replays: Path,
) -> None:
    with Ledger(replays, read_only=True) as ledger:
        default = run_requests(ledger, "default")
        split = run_requests(ledger, "split")
    screen = default["needs_screen"].astype(bool)
    assert screen.any() and (~screen).any()
    # one decision: the vision decision is the answer's, logged beside it
    d = default[screen].iloc[0]
    assert (d.vision_tier, d.vision_score, d.vision_threshold) == (d.tier, d.score, d.threshold)
    assert d.route_reason == "threshold" and d.vision_route_reason == "threshold"
    assert default[~screen]["vision_tier"].isna().all()
    # split: the screen read premium (vision threshold 0), the answer still by its own threshold
    s = split[screen].iloc[0]
    assert s.vision_tier == "premium" and s.vision_threshold == 0.0 and s.threshold == 0.5
    assert s.tier == d.tier and s.vision_model_requested == "ocr:full"
    assert d.vision_model_requested == ("ocr:full" if d.tier == "premium" else "ocr:low")
    # everything that does not depend on the vision tier is as in the default run
    for column in ("tier", "score", "propensity", "llm_model_requested"):
        assert list(split[column]) == list(default[column])
    for column in ("answer", "quality", "status"):  # questions without the screen: untouched
        assert list(split[~screen][column]) == list(default[~screen][column])


def test_split_both_tiers_grid_and_explored_run(replays: Path) -> None:
    with Ledger(replays, read_only=True) as ledger:
        grid = grid_sweep(ledger, "split-bt", vision_thresholds=ODD, llm_thresholds=ODD)
        one = grid_sweep(ledger, "one-bt", vision_thresholds=ODD, llm_thresholds=ODD)
        line = sweep(ledger, "one-bt", thresholds=ODD)
        explored = run_requests(ledger, "explored")
        choice = calibrate_budget(ledger, "explored", 1e6)
    assert grid.screen_requests == 1 and len(grid.points) == len(ODD) ** 2
    diagonal = [p for p in one.points if p.vision_threshold == p.llm_threshold]
    assert [p.total_cost_usd for p in diagonal] == pytest.approx(
        [p.total_cost_usd for p in line.points]
    )
    assert set(explored["route_reason"]) == {"explored"}
    screen = explored[explored["needs_screen"].astype(bool)].iloc[0]
    assert screen.vision_explored and screen.vision_propensity == 0.5
    assert screen.vision_route_reason == "explored"
    assert choice.method == "ipw" and choice.llm_threshold is not None


def test_an_old_one_decision_run_still_sweeps_and_calibrates(replays: Path, tmp_path: Path) -> None:
    """Rows written before migration 9 have no vision_tier / llm_tier: the one-threshold sweep
    reads them as before, the grid says what to do, the budget falls back to one threshold."""
    import shutil

    path = tmp_path / "old.duckdb"
    shutil.copy(replays, path)
    with Ledger(path) as ledger:
        cur = ledger.cursor()
        cur.execute(
            "DELETE FROM tier_outcomes WHERE run_id = 'one-bt' AND vision_tier <> llm_tier"
        ).fetchall()
        cur.execute(
            "UPDATE tier_outcomes SET vision_tier = NULL, llm_tier = NULL WHERE run_id = 'one-bt'"
        ).fetchall()
        cur.execute(
            "UPDATE requests SET vision_score = NULL, vision_tier = NULL, route_reason = NULL "
            "WHERE run_id = 'one-bt'"
        ).fetchall()
    with Ledger(path, read_only=True) as ledger, Ledger(replays, read_only=True) as new:
        before = sweep(new, "one-bt")
        after = sweep(ledger, "one-bt")
        with pytest.raises(LedgerError, match="--both-tiers"):
            grid_sweep(ledger, "one-bt")
        choice = calibrate_budget(ledger, "one-bt", 1e6)
    assert [dataclasses.astuple(p) for p in after.points] == [
        dataclasses.astuple(p) for p in before.points
    ]
    assert choice.method == "exact-one" and choice.vision_threshold == choice.llm_threshold


def test_sweep_grid_and_calibrate_commands(
    synthetic: tuple[Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = synthetic
    assert main(["sweep", "--run", "grid", "--ledger", str(path), "--grid"]) == 0
    out = capsys.readouterr().out
    assert "pareto pairs" in out and "441 threshold pairs" in out
    args = ["calibrate", "--run", "grid", "--ledger", str(path), "--budget-usd-per-hour", "1.0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Within $1.00 per media hour" in out and "[routing]" in out and "acme = 1" in out
    assert main([*args[:5], "--premium-share", "0.3"]) == 0
    assert "vision_threshold" in capsys.readouterr().out
    assert main([*args[:5]]) == 2
    assert "--budget-usd-per-hour" in capsys.readouterr().err


def test_ab_of_two_pairs_matches_brute_force_figures(synthetic: tuple[Path, dict]) -> None:
    from assistant.analysis.grid import compare_pairs

    path, runs = synthetic
    with Ledger(path, read_only=True) as ledger:
        result = compare_pairs(ledger, "grid", (0.4, 0.5), (1.01, 0.2), resamples=200)
    a = brute_force(runs["grid"], 0.4, 0.5, stt_cost_usd=STT, duration_s=DURATION)
    b = brute_force(runs["grid"], 1.01, 0.2, stt_cost_usd=STT, duration_s=DURATION)
    figures = {m.metric: m for m in result.metrics}
    for metric in ("cost_per_media_hour_usd", "mean_quality", "p95_latency_ms"):
        assert figures[metric].a == pytest.approx(a[metric])
        assert figures[metric].b == pytest.approx(b[metric])
    assert result.paired and result.n_a == 60


def test_distinct_pareto_keeps_one_pair_per_cost_and_quality(synthetic: tuple[Path, dict]) -> None:
    path, _ = synthetic
    with Ledger(path, read_only=True) as ledger:
        grid = grid_sweep(ledger, "linked")
    full, distinct = grid.pareto(), grid.pareto(distinct=True)
    assert {(p.total_cost_usd, p.mean_quality) for p in full} == {
        (p.total_cost_usd, p.mean_quality) for p in distinct
    }
    assert len(distinct) == len({(p.total_cost_usd, p.mean_quality) for p in distinct})
    for p in distinct:  # the highest thresholds among the pairs with its figures
        ties = [
            o
            for o in full
            if (o.total_cost_usd, o.mean_quality) == (p.total_cost_usd, p.mean_quality)
        ]
        assert (p.llm_threshold, p.vision_threshold) == max(
            (o.llm_threshold, o.vision_threshold) for o in ties
        )
