"""From live traffic: other thresholds' cost and quality estimated from explored, logged
decisions (both decisions), checked against the truth on a simulated fleet (synthetic traffic
whose both-tier outcomes are known)."""

from __future__ import annotations

import pandas as pd
import pytest

from assistant.analysis.fleet import fleet_check, fleet_truth, simulate_fleet
from assistant.analysis.offpolicy import live_estimate
from assistant.views.live_traffic import live_estimate_sentence, read_fleet_check


@pytest.fixture(scope="module")
def fleet():  # type: ignore[no-untyped-def]
    return simulate_fleet(4000, threshold=0.5, vision_threshold=0.5, explore_share=0.3, seed=1)


def test_another_thresholds_cost_is_estimated_within_ten_percent_of_the_truth(fleet) -> None:  # type: ignore[no-untyped-def]
    checked = fleet_check(fleet, [(0.3, 0.5), (0.7, 0.5), (0.5, 0.3), (0.3, 0.7)], seed=1)
    for row in checked.itertuples():
        assert row.cost_error < 0.10, row
        assert row.cost_low <= row.true_cost_usd <= row.cost_high, row  # the interval holds it
        assert row.quality_error < 0.10, row
    # the policies differ: the estimate is not just the logged mean
    assert checked["true_cost_usd"].max() > 1.5 * checked["true_cost_usd"].min()


def test_the_vision_threshold_moves_only_image_turns(fleet) -> None:  # type: ignore[no-untyped-def]
    low, high = fleet_truth(fleet, 0.5, 0.0), fleet_truth(fleet, 0.5, 1.01)
    estimate = live_estimate(
        fleet.logged, thresholds=[0.5], vision_thresholds=[0.0, 1.01], resamples=200
    )
    assert estimate.points is not None
    costs = estimate.points.set_index("vision_threshold")["cost_usd"]
    assert costs[0.0] == pytest.approx(low[0], rel=0.1)
    assert costs[1.01] == pytest.approx(high[0], rel=0.1)
    assert costs[0.0] > costs[1.01]


def test_without_labels_cost_is_still_estimated_and_quality_is_none(fleet) -> None:  # type: ignore[no-untyped-def]
    unlabelled = fleet.logged.assign(quality=None)
    estimate = live_estimate(unlabelled, thresholds=[0.3], resamples=200)
    assert estimate.points is not None and estimate.labelled == 0
    point = estimate.points.iloc[0]
    assert point["quality"] is None and point["cost_usd"] > 0
    assert "none of them is labelled" in live_estimate_sentence(estimate)


def test_traffic_without_exploration_says_how_to_get_some() -> None:
    logged = pd.DataFrame(
        {"score": [0.2, 0.8], "tier": ["cheap", "premium"], "propensity": [1.0, 1.0],
         "explored": [False, False], "total_cost_usd": [0.001, 0.01], "quality": [None, None]}
    )  # fmt: skip
    estimate = live_estimate(logged)
    assert estimate.points is None and "explore_share" in (estimate.message or "")


def test_the_view_reports_the_fleet_check() -> None:
    view = read_fleet_check(turns=1500, pairs=((0.3, 0.5),), seed=2)
    assert view.ok and view.data is not None
    assert set(view.data.columns) >= {"cost_usd", "true_cost_usd", "cost_error", "cost_low"}
