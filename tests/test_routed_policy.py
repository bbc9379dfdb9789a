"""RoutedLLM's decision and its rows, without LiveKit: the routers' propensities, the budget and
latency guards with their reasons, the vision decision, and the ledger rows a turn becomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.core.config import Config
from assistant.core.errors import ConfigError
from assistant.ledger import Ledger
from assistant.livekit.decisions import Attempt, LedgerDecisionLog, Turn, turn_records
from assistant.livekit.policy import RoutePolicy, RoutingOptions, make_scorer
from assistant.pricing.prices import Pricer

HARD = "Why did revenue grow 40% more than costs, and should we compare it with last year?"
EASY = "Hi"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_threshold_routes_by_score_with_propensity_one() -> None:
    policy = RoutePolicy(RoutingOptions(threshold=0.5))
    hard, easy = policy.decide(HARD), policy.decide(EASY)
    assert hard.score >= 0.5 > easy.score
    assert (hard.tier, easy.tier) == ("premium", "cheap")
    assert hard.propensity == easy.propensity == 1.0
    assert hard.reason == easy.reason == "threshold"
    assert not hard.explored and hard.scorer == "heuristic" and hard.router == "threshold"


def test_exploration_logs_the_mixture_propensity() -> None:
    policy = RoutePolicy(RoutingOptions(threshold=0.5, explore_share=0.4, seed=3))
    decisions = [policy.decide(EASY) for _ in range(400)]
    explored = [d for d in decisions if d.explored]
    assert 100 < len(explored) < 220  # about 40 %
    for d in decisions:  # the router says cheap: P(cheap) = 0.6 + 0.2, P(premium) = 0.2
        assert d.propensity == pytest.approx(0.8 if d.tier == "cheap" else 0.2)
        assert d.reason == ("explored" if d.explored else "threshold")
    assert any(d.tier == "premium" for d in explored)


def test_budget_per_hour_routes_cheap_until_the_hour_has_passed() -> None:
    clock = Clock()
    policy = RoutePolicy(RoutingOptions(threshold=0.5, budget_usd_per_hour=1.0), clock=clock)
    assert policy.decide(HARD).tier == "premium"
    policy.record(tier="premium", cost_usd=0.6, ttft_ms=100.0)
    clock.now += 600
    assert policy.decide(HARD).tier == "premium"  # 0.6 of 1.0 spent
    policy.record(tier="premium", cost_usd=0.5, ttft_ms=100.0)
    over = policy.decide(HARD)
    assert (over.tier, over.reason, over.propensity, over.explored) == (
        "cheap",
        "budget",
        1.0,
        False,
    )
    clock.now += 3000  # the first 0.6 leaves the trailing hour
    assert policy.spent_last_hour_usd() == pytest.approx(0.5)
    assert policy.decide(HARD).tier == "premium"


def test_a_slow_premium_tier_is_skipped_for_the_cooldown() -> None:
    clock = Clock()
    options = RoutingOptions(
        threshold=0.5, latency_budget_ms=800.0, latency_min_samples=4, latency_cooldown_s=60.0
    )
    policy = RoutePolicy(options, clock=clock)
    for ttft in (300.0, 400.0, 350.0):
        policy.record(tier="premium", cost_usd=0.0, ttft_ms=ttft)
    assert policy.premium_ttft_p95_ms() is None  # too few answers for a verdict
    policy.record(tier="premium", cost_usd=0.0, ttft_ms=2500.0)  # p95 of 4 = the slowest
    skipped = policy.decide(HARD)
    assert (skipped.tier, skipped.reason, skipped.propensity) == ("cheap", "latency", 1.0)
    assert policy.decide(EASY).reason == "threshold"  # cheap anyway: the router's own reason
    clock.now += 61
    assert policy.decide(HARD).tier == "premium"


def test_an_image_in_the_turn_gets_the_vision_decision() -> None:
    policy = RoutePolicy(RoutingOptions(threshold=0.99, vision_threshold=0.0))
    text_only, with_image = policy.decide(HARD), policy.decide(HARD, has_image=True)
    assert (text_only.tier, text_only.vision, text_only.threshold) == ("cheap", False, 0.99)
    assert (with_image.tier, with_image.vision, with_image.threshold) == ("premium", True, 0.0)


def test_options_come_from_a_workbench_config_and_bad_ones_say_what_is_wrong() -> None:
    config = Config().with_routing(
        scorer="length", threshold=0.4, explore_share=0.2, budget_usd_per_hour=3.0
    )
    options = RoutingOptions.from_config(config, latency_budget_ms=900.0)
    assert (options.scorer, options.threshold, options.explore_share) == ("length", 0.4, 0.2)
    assert (options.budget_usd_per_hour, options.latency_budget_ms) == (3.0, 900.0)
    with pytest.raises(ConfigError, match="threshold must be in"):
        RoutingOptions(threshold=1.5)
    with pytest.raises(ConfigError, match="unknown scorer 'nope'; available"):
        make_scorer("nope")
    with pytest.raises(ConfigError, match="takes no options; got weights"):
        make_scorer("heuristic", weights="w.json")


def _turn(*attempts: Attempt, tier: str = "premium", reason: str = "explored") -> Turn:
    policy = RoutePolicy(RoutingOptions(threshold=0.0 if tier == "premium" else 1.0))
    decision = policy.decide(HARD)
    from dataclasses import replace

    decision = replace(decision, reason=reason, explored=reason == "explored", propensity=0.25)
    return Turn("r1", HARD, decision, attempts, "The answer.", 12.5)


def test_a_failed_over_turn_is_a_fallback_row_with_both_calls_priced() -> None:
    failed = Attempt(
        "premium", "openai", "gpt-4o", 20.0, None, 0, 0, "error", "APIStatusError: 500"
    )
    answered = Attempt("cheap", "openai", "gpt-4o-mini", 300.0, 120.0, 1000, 100, "ok")
    rows = turn_records(
        _turn(failed, answered),
        run_id="run",
        tenant="acme",
        room="r",
        requested_model="gpt-4o",
        pricer=Pricer(),
    )
    *calls, request = rows
    assert [call.status for call in calls] == ["error", "ok"]  # type: ignore[attr-defined]
    expected = 1000 * 0.15 / 1e6 + 100 * 0.6 / 1e6  # gpt-4o-mini's list price
    assert request.total_cost_usd == pytest.approx(expected)  # type: ignore[attr-defined]
    assert request.status == "fallback" and request.route_reason == "failover"  # type: ignore[attr-defined]
    assert request.tier == "premium" and request.propensity == 0.25  # type: ignore[attr-defined]
    assert request.llm_model_requested == "gpt-4o"  # type: ignore[attr-defined]
    assert request.llm_model_resolved == request.fallback_model == "gpt-4o-mini"  # type: ignore[attr-defined]
    assert request.llm_latency_ms == 320.0  # type: ignore[attr-defined]


def test_the_ledger_log_writes_a_run_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"
    log = LedgerDecisionLog(path, tenant="acme", room="standup", config_json=json.dumps({"a": 1}))
    answered = Attempt("premium", "openai", "gpt-4o", 300.0, 120.0, 500, 50, "ok")
    log.log(_turn(answered), requested_model="gpt-4o")
    log.close()
    with Ledger(path, read_only=True) as ledger:
        cur = ledger.cursor()
        run = cur.execute("SELECT source_kind, tenant, status FROM runs").fetchall()
        req = cur.execute(
            "SELECT tier, propensity, explored, route_reason, total_cost_usd FROM requests"
        ).fetchall()
        calls = cur.execute("SELECT count(*) FROM calls").fetchall()
    assert run == [("agent", "acme", "finished")]
    assert req[0][:4] == ("premium", 0.25, True, "explored") and req[0][4] > 0
    assert calls == [(1,)]


def test_an_agent_run_shows_on_runs_and_costs_and_feeds_the_live_estimate(tmp_path: Path) -> None:
    from assistant.views.live_traffic import read_live_estimate
    from assistant.views.workbench import read_costs, read_runs

    path = tmp_path / "agent.duckdb"
    log = LedgerDecisionLog(path, tenant="acme", run_id="agent-1")
    policy = RoutePolicy(RoutingOptions(threshold=0.5, explore_share=0.5, seed=4))
    for i in range(40):
        question = HARD if i % 2 else EASY
        decision = policy.decide(question)
        model = "gpt-4o" if decision.tier == "premium" else "gpt-4o-mini"
        attempt = Attempt(decision.tier, "openai", model, 200.0, 80.0, 400, 40, "ok")
        log.log(
            Turn(f"t{i}", question, decision, (attempt,), "ok", float(i)), requested_model=model
        )
    log.close()
    runs = read_runs(path, "acme")
    assert runs.data is not None and list(runs.data["run_id"]) == ["agent-1"]
    costs = read_costs(path, "acme")
    assert costs.data is not None and costs.data["total_cost_usd"] > 0
    estimate = read_live_estimate(path, "agent-1", thresholds=[0.0, 1.01], resamples=100)
    assert estimate.data is not None and estimate.data.points is not None
    all_premium, all_cheap = estimate.data.points["cost_usd"]
    assert all_premium == pytest.approx((400 * 2.5 + 40 * 10.0) / 1e6)
    assert all_cheap == pytest.approx((400 * 0.15 + 40 * 0.6) / 1e6)
