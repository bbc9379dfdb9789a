"""The text router and the cross-suite protocol, on small synthetic suites (labelled synthetic).

Leak tests use prompts that are unique nonsense tokens with coin-flip gains: only a router that saw
a test item (or its conversation's other turn) in training can score far above random on it. Each
such test also runs the leaking fit on purpose, to show the test would catch one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from support.routing_suites import shared_signal_rows, unique_token_rows, write_suite

from assistant.analysis.cross_suite import cross_suite, leave_one_suite_out, training_rows
from assistant.analysis.routing_eval import RoutingSuite, apgr, bench_scores, load_suite
from assistant.cli import eval_routing as bench_cli
from assistant.core.errors import ConfigError
from assistant.routing import LogisticModel, ScoreContext, TextModel, TextScorer, make_scorer
from assistant.routing.text import WEIGHTS_ENV, cross_val_text_scores, train_text

# Lift: APGR as a share of the way from random (0.5) to the oracle (routing by the true gain).
HONEST_CEILING = 0.45  # a fit that never saw the test items stays near random (lift 0 ± ~0.1)
LEAK_FLOOR = 0.65  # a fit that saw them gets most of the way to the oracle (lift 1)


def lift(value: float, suite: RoutingSuite) -> float:
    oracle = apgr(suite.strong - suite.weak, suite.weak, suite.strong)
    return (value - 0.5) / (oracle - 0.5)


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("suites")
    return {
        "alpha": write_suite(
            folder / "alpha.csv", shared_signal_rows(60, seed=1, prefix="a"), "alpha"
        ),
        "beta": write_suite(
            folder / "beta.csv", shared_signal_rows(60, seed=2, prefix="b"), "beta"
        ),
        "tokens": write_suite(
            folder / "tokens.csv", unique_token_rows(150, seed=3, prefix="t"), "tokens"
        ),
        "chats": write_suite(
            folder / "chats.csv", unique_token_rows(80, seed=4, prefix="c", turns=2), "chats"
        ),
    }


def test_the_text_router_transfers_a_shared_signal(suites: dict[str, Path]) -> None:
    beta = load_suite(suites["beta"])
    report = cross_suite([load_suite(suites["alpha"])], beta, draws=20)
    assert report["trained_on"] == ["alpha"] and report["dropped_duplicates"] == 0
    routers = report["routers"]
    assert (
        lift(routers["text"]["apgr"], beta) > LEAK_FLOOR
    )  # it learns "theorem" on alpha, uses it on beta
    assert routers["text"]["trained_on"] == ["alpha"]
    assert (
        routers["heuristic"]["in_sample"] is False and "gsm8k" in routers["heuristic"]["tuned_on"]
    )
    assert report["targets"]["beats_random_2sd"] is True


def test_test_prompts_copied_into_training_are_dropped(
    suites: dict[str, Path], tmp_path: Path
) -> None:
    test = load_suite(suites["tokens"])
    copies = [
        (f"copy-{i}", 1, p, float(w), float(s))
        for i, (p, w, s) in enumerate(zip(test.prompts, test.weak, test.strong, strict=True))
    ]
    leaky = load_suite(
        write_suite(tmp_path / "leaky.csv", unique_token_rows(60, seed=9, prefix="x") + copies, "x")
    )
    rows = training_rows([leaky], test)
    assert rows.dropped == len(test) and len(rows.prompts) == 60
    assert not set(rows.prompts) & set(test.prompts)
    honest = cross_suite([leaky], test, routers=["text"], draws=20)["routers"]["text"]["apgr"]
    assert lift(honest, test) < HONEST_CEILING
    # the same fit with the copies kept would have memorised the test items
    cheat = train_text(leaky.prompts, leaky.weak, leaky.strong, alphas=(0.1,), length_weights=(0,))
    assert lift(apgr(cheat.predict(test.prompts), test.weak, test.strong), test) > LEAK_FLOOR


def test_a_suite_is_never_on_both_sides(suites: dict[str, Path], tmp_path: Path) -> None:
    tokens = load_suite(suites["tokens"])
    with pytest.raises(ValueError, match="both a training and the test suite"):
        training_rows([load_suite(suites["alpha"]), tokens], tokens)
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(suites["tokens"].read_text().replace(",tokens,", ",other,"))
    with pytest.raises(ValueError, match="both a training and the test suite"):
        training_rows([load_suite(suites["tokens"])], load_suite(suites["tokens"]))
    # the same rows under another name and file: every one is a test prompt, so none is left
    assert load_suite(renamed).name == "other"
    with pytest.raises(ValueError, match="fewer than two training rows left"):
        training_rows([load_suite(renamed)], tokens)
    with pytest.raises(ValueError, match="no training suite"):
        training_rows([], tokens)
    with pytest.raises(ValueError, match="at least two suites"):
        leave_one_suite_out([tokens])


def test_in_suite_cv_keeps_a_conversation_on_one_side(suites: dict[str, Path]) -> None:
    chats = load_suite(suites["chats"])
    assert chats.groups[0] == chats.groups[1]
    honest = apgr(bench_scores("text", chats, folds=4), chats.weak, chats.strong)
    assert lift(honest, chats) < HONEST_CEILING
    # splitting the turns of a conversation across folds lets the sibling turn give it away
    split = cross_val_text_scores(chats.prompts, chats.weak, chats.strong, folds=4, groups=None)
    assert lift(apgr(split, chats.weak, chats.strong), chats) > LEAK_FLOOR


def test_leave_one_suite_out_fits_on_the_others_only(suites: dict[str, Path]) -> None:
    loaded = [load_suite(suites[n]) for n in ("alpha", "beta", "tokens")]
    report = leave_one_suite_out(loaded, routers=["length", "text"], draws=20)
    alpha, tokens = loaded[0], loaded[2]
    assert [r["suite"] for r in report] == ["alpha", "beta", "tokens"]
    assert [r["trained_on"] for r in report] == [
        ["beta", "tokens"],
        ["alpha", "tokens"],
        ["alpha", "beta"],
    ]
    assert lift(report[0]["routers"]["text"]["apgr"], alpha) > LEAK_FLOOR
    assert lift(report[2]["routers"]["text"]["apgr"], tokens) < HONEST_CEILING  # nothing to learn


def test_weights_roundtrip_and_the_scorer(
    suites: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = load_suite(suites["alpha"])
    model = train_text(alpha.prompts, alpha.weak, alpha.strong, trained_on=["alpha"])
    path = tmp_path / "text.json"
    model.save(path)
    loaded = TextModel.load(path)
    assert loaded.trained_on == ("alpha",) and loaded.trained_rows == 60
    assert loaded.alpha == model.alpha and loaded.length_weight == model.length_weight
    probe = [
        "please prove this theorem qwrtp zxcvb",
        "please say hello qwrtp zxcvb",
        "unseen words",
    ]
    assert np.allclose(loaded.predict(probe), model.predict(probe), atol=1e-5)
    assert isinstance(make_scorer("text", weights=path), TextScorer)
    monkeypatch.setenv(WEIGHTS_ENV, str(path))
    scorer = TextScorer()
    hard, easy = (scorer.score(q, ScoreContext()) for q in probe[:2])
    assert 0.0 <= easy.value < hard.value <= 1.0
    assert any("theorem" in name for name in hard.contributions)
    # given a grid, the design is chosen by inner CV on the training rows and recorded
    grid = train_text(alpha.prompts, alpha.weak, alpha.strong, alphas=(1, 3), length_weights=(0, 1))
    assert len(grid.inner_cv) == 4 and (grid.alpha, grid.length_weight) in {
        (a, w) for a in (1, 3) for w in (0, 1)
    }


def test_bad_weights_files_are_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(ConfigError, match=WEIGHTS_ENV):
        TextScorer()
    with pytest.raises(ConfigError, match=r"no such text-router weights file.*--save-weights"):
        TextModel.load(tmp_path / "missing.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(ConfigError, match="not a text-router weights file"):
        TextModel.load(garbage)
    logistic = tmp_path / "logistic.json"
    LogisticModel(("length",), (1.0,), 0.0, (0.0,), (1.0,), 1.0).save(logistic)
    with pytest.raises(ConfigError, match="kind is 'logistic'"):
        TextModel.load(logistic)
    good = tmp_path / "good.json"
    rows = shared_signal_rows(12, seed=5, prefix="g")
    train_text([r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]).save(good)
    data = json.loads(good.read_text())
    for change, message in (
        ({"format": 2}, "this version reads format 1"),
        ({"coef": data["coef"][:-1]}, "coefficients for"),
        ({"coef": None}, "not a text-router weights file"),
    ):
        broken = tmp_path / "broken.json"
        broken.write_text(json.dumps({**data, **change}))
        with pytest.raises(ConfigError, match=message):
            TextModel.load(broken)
    monkeypatch.setenv(WEIGHTS_ENV, str(garbage))
    with pytest.raises(ConfigError, match=r"garbage\.json"):
        TextScorer()


# -- the command --------------------------------------------------------------------------------
def _bench(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    bench_cli.add_commands(parser.add_subparsers(dest="command"))
    return bench_cli.run(parser.parse_args(["eval-routing", *argv]))


def test_bench_cross_suite_by_name(
    suites: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csvs = [str(suites["alpha"]), str(suites["beta"])]
    weights = tmp_path / "w.json"
    args = ["--train", "alpha", "--test", "beta", "--json", "--draws", "20"]
    assert _bench([*csvs, *args, "--save-weights", str(weights)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "suites" not in out  # --train/--test: the cross-suite protocol only
    (entry,) = out["cross_suite"]
    assert entry["suite"] == "beta" and entry["trained_on"] == ["alpha"]
    assert set(entry["routers"]) == {"length", "heuristic", "learned", "text", "random"}
    assert out["saved_weights"]["suites"] == ["alpha"]  # the training suites only
    assert TextModel.load(weights).trained_on == ("alpha",)


def test_bench_prints_both_protocols(
    suites: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    csvs = [str(suites["alpha"]), str(suites["tokens"])]
    assert (
        _bench(
            [*csvs, "--draws", "20", "--cv-repeats", "1", "--router", "text", "--router", "length"]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "In-suite" in text and "Cross-suite" in text
    assert "alpha held out" in text and "fitted on tokens (150 rows)" in text
    assert "text*" in text and "text − length" in text
    assert _bench([*csvs, "--loso", "--json", "--draws", "20", "--router", "length"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["suite"] for e in out["cross_suite"]] == ["alpha", "tokens"]
    assert "suites" not in out


def test_bench_refuses_a_leaky_or_unclear_split(
    suites: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    alpha = str(suites["alpha"])
    assert bench_cli.main([alpha, "--train", "alpha"]) == 2
    assert "--train and --test go together" in capsys.readouterr().err
    assert bench_cli.main([alpha, "--train", "alpha", "--test", alpha]) == 2
    assert "both a training and the test suite" in capsys.readouterr().err
    assert bench_cli.main([alpha, "--train", "alpha", "--test", "nosuch"]) == 2
    assert "nosuch: is neither a CSV file nor the name of a given suite" in capsys.readouterr().err
    assert bench_cli.main([alpha, "--loso"]) == 2
    assert "needs two or more CSVs" in capsys.readouterr().err


# -- regression on RouteLLM's data (measured when written: 0.642 ± 0.005 over 3 splits) ----------
def test_text_router_held_out_on_gsm8k_beats_length() -> None:
    gsm8k = load_suite(
        Path(__file__).resolve().parent.parent / "datasets/routellm/routellm_gsm8k.csv"
    )
    held_out = apgr(bench_scores("text", gsm8k, folds=5, seed=0), gsm8k.weak, gsm8k.strong)
    length = apgr(bench_scores("length", gsm8k), gsm8k.weak, gsm8k.strong)
    assert held_out > length + 0.03 and held_out > 0.62
