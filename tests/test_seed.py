"""The seed design as a configuration: its preset, its keyword estimator as documented, and the
comparison command's table and verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.analysis.projection import ProjectedRun
from assistant.analysis.seed_compare import (
    COST_GOAL,
    ConfigResult,
    SeedComparison,
    configurations,
    format_comparison,
)
from assistant.cli.registry import main
from assistant.core.config import load_config, presets
from assistant.core.errors import ConfigError
from assistant.pipeline.stages import make_stages
from assistant.routing import ScoreContext, make_scorer
from assistant.routing.seed import SEED_THRESHOLD, SeedKeywordScorer
from assistant.sessions.datasets import load_dataset


def test_the_seed_preset_loads_by_name() -> None:
    assert "seed" in presets()
    config = load_config("seed")
    assert config.routing.scorer == "seed-keywords" and config.routing.threshold == SEED_THRESHOLD
    assert (config.sampling.policy, config.sampling.fps, config.sampling.keep_last) == (
        "fixed",
        1.0,
        10,
    )
    assert (
        config.vision == load_config(None).vision
    )  # offline tiers; the cloud models are a scenario
    with pytest.raises(ConfigError, match=r"pass an existing TOML file or a preset \(seed\)"):
        load_config("seeds")


def test_the_seed_preset_builds_its_stages(tiny: Path) -> None:
    config = configurations("recorded")["seed"]
    stages = make_stages(config, load_dataset(tiny))
    assert isinstance(stages.scorer, SeedKeywordScorer)
    assert isinstance(make_scorer("seed-keywords"), SeedKeywordScorer)


@pytest.mark.parametrize(
    ("question", "needs_screen", "score", "features"),
    [
        ("What was Q3 revenue?", False, 0.0, set()),
        ("Why did churn go up?", False, 0.3, {"keywords"}),
        ("What is on the slide?", False, 0.3, {"visual"}),
        ("What's the total here?", True, 0.3, {"visual"}),
        (
            "Compare the chart with what we discussed earlier",
            False,
            0.8,
            {"keywords", "visual", "context"},
        ),
        (
            "Can you walk me through every single number that appears in the quarterly report we "
            "have been looking at for the last ten minutes please",
            False,
            0.2,
            {"long_question"},
        ),
    ],
)
def test_the_keyword_estimator_scores_as_documented(
    question: str, needs_screen: bool, score: float, features: set[str]
) -> None:
    result = SeedKeywordScorer().score(question, ScoreContext(needs_screen=needs_screen))
    assert result.value == pytest.approx(score)
    assert {k for k, v in result.contributions.items() if v} == features


def test_the_estimator_caps_at_one() -> None:
    question = (
        "Why does the chart on the screen, compared with what we discussed earlier, predict the "
        "trend we agreed on, and what strategy would you recommend for the next quarter?"
    )
    assert SeedKeywordScorer().score(question, ScoreContext(needs_screen=True)).value == 1.0


def _result(
    name: str, share: float, quality: float, costs: dict[str, dict[str, float]]
) -> ConfigResult:
    return ConfigResult(
        name=name,
        run_id=f"r-{name}",
        premium_share=share,
        mean_quality=quality,
        labelled=20,
        requests=20,
        projected={
            s: ProjectedRun(f"r-{name}", s, 3600.0, stage_cost_usd=c, exact_share=0.7)
            for s, c in costs.items()
        },
    )


def test_the_verdict_compares_the_default_with_the_seed_designs_own_models() -> None:
    def costs(stt: float, rest: float) -> dict[str, dict[str, float]]:
        return {
            "seed": {"stt": stt, "vision": rest, "llm": rest},
            "budget": {"stt": stt, "vision": rest / 10, "llm": rest / 10},
        }

    comparison = SeedComparison(
        dataset="demo",
        media_duration_s=3600.0,
        scenarios=("seed", "budget"),
        results=(
            _result("seed", 0.5, 0.70, costs(0.1, 1.0)),
            _result("default", 0.4, 0.76, costs(0.1, 0.1)),
            _result("all-cheap", 0.0, 0.5, costs(0.1, 0.05)),
            _result("all-premium", 1.0, 0.80, costs(0.1, 2.0)),
        ),
    )
    met, cost, quality = comparison.verdict("seed")
    assert cost == pytest.approx(0.3 / 2.1) and cost <= COST_GOAL
    assert quality == pytest.approx(0.95) and met
    met, cost, _ = comparison.verdict("budget")  # default on budget models vs the seed's own
    assert cost == pytest.approx(0.12 / 2.1) and met
    table = format_comparison(comparison)
    assert (
        "| default | seed | $0.1000 | $0.1000 | $0.1000 | $0.3000 | 40% | 0.760 (20/20) | 95% | 70% |"
        in table
    )
    assert table.count("MET") == 2 and "NOT MET" not in table
    assert "transcription is 5% of the seed design's projected cost" in table


def test_project_command_refuses_unknown_runs_and_scenarios(tmp_path: Path, tiny: Path) -> None:
    from support.configs import recorded_config

    from assistant.ledger import Ledger
    from assistant.sessions.replay import replay

    path = tmp_path / "l.duckdb"
    with Ledger(path) as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=recorded_config(), run_id="r")
    assert main(["project", "--run", "r", "--scenario", "nope", "--ledger", str(path)]) == 2
    assert main(["project", "--run", "missing", "--ledger", str(path)]) == 2
    assert main(["project", "--run", "r", "--scenario", "seed", "--ledger", str(path)]) == 0
