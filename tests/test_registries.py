"""One registry per extension point: a toy scorer and a toy vendor, each added by one register
call in a test-only module (support/toys.py), are found everywhere a scorer or a vendor is listed,
validated, built or priced, with no other edit. Synthetic suites (support/routing_suites.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support import toys
from support.routing_suites import shared_signal_rows, write_suite

from assistant.analysis.cross_suite import cross_suite
from assistant.analysis.routing_eval import bench_scores, external_benchmark, load_suite
from assistant.cli import eval_routing
from assistant.cli.registry import main
from assistant.core.config import config_from_dict
from assistant.core.errors import ConfigError
from assistant.core.events import KeptFrame
from assistant.pipeline.stages import build_stages
from assistant.pricing.tokens import anthropic_image_tokens, encoding_name, image_tokens
from assistant.providers import registry as providers
from assistant.providers.catalog import cloud_providers, vendor_names
from assistant.providers.keys import resolve_cloud
from assistant.providers.llm.base import AnswerRequest
from assistant.routing.registry import benchmark_routers, make_scorer, scorer_names
from assistant.views.lab import benchmark_chart_routers
from assistant.views.lab import scorer_names as lab_scorer_names
from assistant.views.workbench import provider_keys


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no .env or secrets of the checkout
    monkeypatch.delenv(toys.KEY_ENV, raising=False)
    with toys.installed():
        yield


@pytest.fixture
def suites(tmp_path: Path) -> list[Path]:
    return [
        write_suite(tmp_path / f"{name}.csv", shared_signal_rows(40, seed=i, prefix=name), name)
        for i, name in enumerate(("alpha", "beta"))
    ]


def test_the_toys_are_nowhere_until_registered() -> None:
    assert toys.SCORER not in scorer_names() and toys.SCORER not in benchmark_routers()
    assert toys.VENDOR not in vendor_names() and toys.VENDOR not in cloud_providers("llm")
    assert "Toy Vendor" not in provider_keys({})
    with pytest.raises(ConfigError, match="unknown scorer 'toy'"):
        make_scorer(toys.SCORER)
    with pytest.raises(ConfigError, match="unknown LLM provider 'toyvendor'"):
        providers.make_llm("toyvendor:toy-1")


def test_the_toy_scorer_is_found_everywhere(installed: None, suites: list[Path]) -> None:
    # the registry, the Routing lab's names, the benchmark's choices
    assert isinstance(make_scorer(toys.SCORER), toys.ToyScorer)
    assert toys.SCORER in scorer_names() and toys.SCORER in lab_scorer_names()
    assert toys.SCORER in benchmark_routers()
    assert benchmark_chart_routers()[-3:] == (toys.SCORER, "random", "oracle")
    # the benchmark measures it by default: its keyword is the suites' signal, so it is perfect
    alpha = load_suite(suites[0])
    scores = bench_scores(toys.SCORER, alpha)
    assert np.array_equal(scores > 0.5, alpha.strong > alpha.weak)
    view = external_benchmark(suites, draws=10, folds=2)
    row = view.table.set_index(["suite", "router"]).loc[("alpha", toys.SCORER)]
    assert row["apgr"] == pytest.approx(view.table.query("router == 'oracle'")["apgr"].iloc[0])
    assert toys.SCORER in set(view.curves["router"])
    # the cross-suite protocol: a fixed scorer, scored on the held-out suite
    report = cross_suite([load_suite(suites[1])], alpha, draws=10)
    assert report["routers"][toys.SCORER]["apgr"] == pytest.approx(row["apgr"])
    assert "trained_on" not in report["routers"][toys.SCORER]


def test_the_toy_scorer_is_a_command_choice_and_a_config_value(
    installed: None, suites: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["eval-routing", str(suites[0]), "--router", toys.SCORER, "--draws", "10", "--json"]
    )
    assert code == 0
    routers = json.loads(capsys.readouterr().out)["suites"][0]["routers"]
    assert set(routers) == {toys.SCORER, "random"}
    parser = eval_routing.argparse.ArgumentParser()
    eval_routing._arguments(parser)
    assert parser.parse_args(["--router", toys.SCORER]).router == [toys.SCORER]
    # [routing] scorer and vision_scorer validate against the registry and build it
    config = config_from_dict({"routing": {"scorer": toys.SCORER, "vision_scorer": toys.SCORER}})
    stages = build_stages(config, tenant="acme")
    assert isinstance(stages.scorer, toys.ToyScorer)
    assert isinstance(stages.vision_scorer, toys.ToyScorer)
    with pytest.raises(ConfigError, match=f"available: .*{toys.SCORER}"):
        build_stages(config_from_dict({"routing": {"scorer": "nope"}}), tenant="acme")


def test_the_toy_vendor_is_found_everywhere(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = f"{toys.VENDOR}:toy-1"
    # the sidebar's key status, by display name; the registry names the variable when it is unset
    assert provider_keys({})["Toy Vendor"] is False
    assert provider_keys({toys.KEY_ENV: "x"})["Toy Vendor"] is True
    notices: list[str] = []
    offline = providers.tier_llm("premium", spec, notices)
    assert offline.provider == "local" and toys.KEY_ENV in notices[0]
    # with its key: the registry builds its adapters for both stages
    monkeypatch.setenv(toys.KEY_ENV, "toy-secret-key")
    assert toys.VENDOR in cloud_providers("vision") and resolve_cloud(spec).vendor == toys.VENDOR
    llm = providers.make_llm(spec)
    assert isinstance(llm, toys.ToyLLM) and llm.spec == spec and not llm.local
    result = llm.answer(AnswerRequest(question="what is the launch date"))
    assert result.provider == toys.VENDOR and result.model_resolved == "toy-1-2026"
    vision = providers.make_vision(spec)
    assert isinstance(vision, toys.ToyVision)
    rgb = np.zeros((720, 1280, 3), np.uint8)
    frame = KeptFrame("screen", 0.0, rgb, digest="d", reason="test", change_score=1.0)
    assert vision.analyze(frame, "what is shown").value == "a 1280x720 screen"
    assert "toy-secret-key" not in repr(llm)
    # the pipeline's tiers, priced by an override like any cloud model
    config = config_from_dict(
        {
            "llm": {"premium": spec},
            "vision": {"premium": spec},
            "pricing": {"overrides": {spec: {"input_usd_per_mtok": 1.0}}},
        }
    )
    stages = build_stages(config, tenant="acme")
    assert isinstance(stages.llm.premium, toys.ToyLLM)
    assert isinstance(stages.vision.premium, toys.ToyVision)
    # pricing: the image-token rule its catalog entry names; no offline tokenizer
    assert image_tokens(1280, 720, provider=toys.VENDOR, model="toy-1") == (
        anthropic_image_tokens(1280, 720)
    )
    assert encoding_name(toys.VENDOR, "toy-1") is None


def test_a_trained_scorer_finds_its_weights_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.routing.learned import WEIGHTS, WEIGHTS_ENV, LearnedScorer, train_logistic

    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    features = [{k: (i % 3) / 3 for k in WEIGHTS} for i in range(30)]
    outcomes = [(0.0, 1.0) if i % 3 else (1.0, 0.0) for i in range(30)]
    weights = tmp_path / "learned.json"
    train_logistic(features, outcomes).save(weights)
    routing = {"scorer": "learned", "scorer_weights": str(weights)}
    stages = build_stages(config_from_dict({"routing": routing}), tenant="acme")
    assert isinstance(stages.scorer, LearnedScorer)  # no environment variable needed
    with pytest.raises(ConfigError, match="WORKBENCH_LEARNED_WEIGHTS"):
        build_stages(config_from_dict({"routing": {"scorer": "learned"}}), tenant="acme")
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))  # the variable still works as a fallback
    fallback = build_stages(config_from_dict({"routing": {"scorer": "learned"}}), tenant="acme")
    assert isinstance(fallback.scorer, LearnedScorer)
    with pytest.raises(ConfigError, match="scorer 'heuristic' takes no options"):
        build_stages(config_from_dict({"routing": {"scorer_weights": str(weights)}}), tenant="a")
    with pytest.raises(ConfigError, match=r"routing\.scorer_weights is empty"):
        config_from_dict({"routing": {"scorer_weights": ""}})
