"""Counterfactual routing: --both-tiers replays of the small session, and the threshold sweep."""

from __future__ import annotations

import dataclasses
import json
from itertools import pairwise
from pathlib import Path

import pytest
from support.configs import recorded_config

from assistant.analysis.sweep import sweep
from assistant.cli.registry import main
from assistant.core.errors import LedgerError
from assistant.ledger import Ledger
from assistant.ledger.queries import run_calls, run_requests, run_shared_cost_usd
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay


def outcomes(ledger: Ledger, run_id: str) -> list[dict[str, object]]:
    """The outcomes where vision and answer share a tier (the two a one-threshold sweep reads)."""
    rel = ledger.cursor().sql(
        "SELECT * FROM tier_outcomes WHERE run_id = $r "
        "AND (vision_tier IS NULL OR vision_tier = llm_tier) ORDER BY request_id, tier",
        params={"r": run_id},
    )
    result: list[dict[str, object]] = rel.to_arrow_table().to_pylist()
    return result


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    """One ledger with a normal run, a --both-tiers run and a cached --both-tiers rerun."""
    path = tmp_path_factory.mktemp("sweep") / "l.duckdb"
    dataset = load_dataset(tiny_master)
    with Ledger(path) as ledger:
        # without the call cache, so that the --both-tiers run makes every call of its own
        plain = recorded_config(0.5)
        plain = dataclasses.replace(plain, calls=dataclasses.replace(plain.calls, cache=False))
        replay(dataset, ledger=ledger, config=plain, run_id="normal")
        replay(dataset, ledger=ledger, config=recorded_config(0.5), run_id="bt", both_tiers=True)
        replay(dataset, ledger=ledger, config=recorded_config(0.5), run_id="bt2", both_tiers=True)
    return path


def test_both_tiers_records_each_tier_and_keeps_requests(both: Path) -> None:
    with Ledger(both, read_only=True) as ledger:
        normal = run_requests(ledger, "normal")
        requests = run_requests(ledger, "bt")
        rows = outcomes(ledger, "bt")
        calls = run_calls(ledger, "bt")
    assert list(requests["question_id"]) == ["q1", "q2", "q3"]
    assert list(requests["tier"]) == list(normal["tier"])
    assert list(requests["answer"]) == list(normal["answer"])
    assert list(requests["status"]) == list(normal["status"])
    assert len(rows) == 6
    for request_id in requests["request_id"]:
        mine = [r for r in rows if r["request_id"] == request_id]
        assert sorted(r["tier"] for r in mine) == ["cheap", "premium"]
        for r in mine:
            assert r["cached"] is False and r["cost_usd"] > 0 and r["latency_ms"] > 0
            assert r["status"] == "ok" and r["quality"] is not None
    routed = {r.request_id: r for r in requests.itertuples()}
    for r in rows:
        if routed[r["request_id"]].tier == r["tier"]:
            assert r["answer"] == routed[r["request_id"]].answer
    screen = [r for r in rows if r["request_id"] == "bt:q2"]
    assert all(str(r["vision_model"]).startswith("ocr:") for r in screen)
    llm = calls[calls["stage"] == "llm"]
    # the counterfactual answers are paid for and recorded too; q2's mixed combinations (cheap
    # vision with the premium answer and the other way round) read the same text as the plain
    # ones, so they share those answers: no call is made twice
    assert len(llm) == 6
    assert len(calls[calls["stage"] == "vision"]) == 2  # q2's screen, read once per tier


def test_a_rerun_is_answered_from_the_cache(both: Path) -> None:
    with Ledger(both, read_only=True) as ledger:
        rows = outcomes(ledger, "bt2")
        first = outcomes(ledger, "bt")
        calls = run_calls(ledger, "bt2")
        requests = run_requests(ledger, "bt2")
        cached = ledger.cursor().execute("SELECT count(*) FROM answer_cache").fetchall()[0][0]
        first_requests = run_requests(ledger, "bt")
        retrieval = {
            run: dict(zip(c["request_id"], c["cost_usd"], strict=True))
            for run in ("bt", "bt2")
            for c in [run_calls(ledger, run).query("stage == 'retrieval'")]
        }
    assert len(rows) == 6 and all(r["cached"] for r in rows)
    assert [r["answer"] for r in rows] == [r["answer"] for r in first]
    assert [r["quality"] for r in rows] == [r["quality"] for r in first]
    llm = calls[calls["stage"] == "llm"]  # no answer call made: each one from the call cache
    assert len(llm) and llm["cached"].all() and (llm["cost_usd"] == 0).all()
    # what was paid is in calls; a request's and an outcome's cost are as if paid (the sweep)
    assert list(requests["llm_cost_usd"]) == pytest.approx(list(first_requests["llm_cost_usd"]))

    # retrieval is not a cached call: it is measured again, as this machine's CPU time, so it is
    # left out of the comparison (on a loaded machine it differed by 0.9x between the two runs)
    def tiers_usd(run: str, outcome: dict[str, object]) -> float:
        return float(outcome["cost_usd"]) - retrieval[run][str(outcome["request_id"])]  # type: ignore[arg-type]

    assert [tiers_usd("bt2", r) for r in rows] == pytest.approx(
        [tiers_usd("bt", r) for r in first], rel=1e-6
    )
    assert cached == 6  # written once, by the first run


def test_sweep_ends_are_all_premium_and_all_cheap(both: Path) -> None:
    with Ledger(both, read_only=True) as ledger:
        rows = outcomes(ledger, "bt")
        result = sweep(ledger, "bt", thresholds=[0.0, 0.25, 0.5, 0.75, 1.0, 1.01])
        shared = run_shared_cost_usd(ledger, "bt")
    premium = [r for r in rows if r["tier"] == "premium"]
    cheap = [r for r in rows if r["tier"] == "cheap"]
    low, high = result.points[0], result.points[-1]
    assert low.premium_share == 1.0 and high.premium_share == 0.0
    assert low.mean_quality == pytest.approx(sum(r["quality"] for r in premium) / 3)  # type: ignore[misc]
    assert high.mean_quality == pytest.approx(sum(r["quality"] for r in cheap) / 3)  # type: ignore[misc]
    stt = low.total_cost_usd - sum(r["cost_usd"] for r in premium)  # type: ignore[misc]
    assert stt == pytest.approx(shared)  # transcription counts at every threshold
    assert high.total_cost_usd == pytest.approx(sum(r["cost_usd"] for r in cheap) + stt)  # type: ignore[misc]
    assert result.premium_quality == pytest.approx(low.mean_quality)


def test_sweep_curve_pareto_and_recommendation(both: Path) -> None:
    with Ledger(both, read_only=True) as ledger:
        result = sweep(ledger, "bt")
    shares = [p.premium_share for p in result.points]
    assert len(shares) == 101
    assert all(a >= b for a, b in pairwise(shares))
    front = result.pareto()
    assert front
    for p in front:
        assert not any(
            o.total_cost_usd <= p.total_cost_usd
            and (o.mean_quality or 0) >= (p.mean_quality or 0)
            and (o.total_cost_usd, o.mean_quality) != (p.total_cost_usd, p.mean_quality)
            for o in result.points
        )
    for target in (0.5, 0.95, 1.0):
        best = result.recommend(target)
        assert best is not None and result.premium_quality is not None
        assert best.mean_quality is not None
        assert best.mean_quality >= target * result.premium_quality - 1e-9
        meeting = [
            p
            for p in result.points
            if (p.mean_quality or 0) >= target * result.premium_quality - 1e-9
        ]
        assert best.total_cost_usd == min(p.total_cost_usd for p in meeting)


def test_sweep_without_outcomes_says_what_to_do(both: Path) -> None:
    with Ledger(both, read_only=True) as ledger:
        with pytest.raises(LedgerError, match="replay with --both-tiers first"):
            sweep(ledger, "normal")
        with pytest.raises(LedgerError, match="does not exist"):
            sweep(ledger, "nope")


def test_sweep_command(both: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--run", "bt", "--ledger", str(both)]) == 0
    out = capsys.readouterr().out
    assert "pareto thresholds:" in out and "recommended: threshold" in out
    assert main(["sweep", "--run", "bt", "--ledger", str(both), "--json", "--target", "0.9"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["points"]) == 101 and data["recommended"] is not None
    assert main(["sweep", "--run", "normal", "--ledger", str(both)]) == 2
    assert "--both-tiers" in capsys.readouterr().err
