"""The benchmark harness: a smoke run of ``bench --quick --json`` (structure only, no timing
assertions), and the fast paths it measures give the same answers as their baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.analysis.sweep import _SplitPercentile, sweep
from assistant.benchmarks.harness import Figure
from assistant.benchmarks.ledger_bench import naive_sweep
from assistant.benchmarks.sections import SECTIONS
from assistant.cli.registry import main
from assistant.ledger import Ledger
from assistant.ledger.queries import cost_dashboard
from assistant.ledger.synthetic import build_ledger
from assistant.views.workbench import read_calls, read_costs

FIGURE_FIELDS = {
    "section",
    "name",
    "value",
    "unit",
    "baseline",
    "baseline_value",
    "ratio",
    "target",
    "met",
    "limited_by",
}


def test_bench_quick_writes_every_figure_with_its_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKBENCH_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["quick"] is True
    machine = data["machine"]
    for key in ("cpu", "cores", "ram_gb", "python", "versions", "date"):
        assert machine[key] is not None, key
    assert machine["versions"]["duckdb"]
    figures = data["figures"]
    assert {f["section"] for f in figures} == set(SECTIONS)
    for f in figures:
        assert set(f) >= FIGURE_FIELDS, f["name"]
        assert Figure(**{k: v for k, v in f.items() if k != "met"}).met == f["met"], f["name"]
        assert f["baseline"] and f["target"] and f["unit"]
        assert f["value"] > 0 and f["baseline_value"] > 0 and f["ratio"] > 0, f["name"]
        if f["met"] is False:
            assert f["limited_by"], f"{f['name']} missed without saying what limits it"
        assert f["name"][:40] in table
    assert data["missed"] == [f["name"] for f in figures if f["met"] is False]
    names = " ".join(f["name"] for f in figures)
    for expected in ("1920x1080", "replay speed", "peak RSS", "batched appends", "sweep", "p95"):
        assert expected in names
    assert data["notes"]["replay"]  # where the replay's time goes
    assert "machine:" in table and "baselines:" in table


def test_bench_refuses_an_unknown_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "gpu"]) == 2
    assert "unknown bench section" in capsys.readouterr().err


def test_figure_met_checks_every_target() -> None:
    def figure(**kw: object) -> Figure:
        base = dict(section="s", name="n", value=40.0, unit="µs", baseline="b")
        base.update(baseline_value=4000.0, ratio=100.0, target="t")
        base.update(kw)
        return Figure(**base)  # type: ignore[arg-type]

    assert figure(target_ratio=100.0, target_value=50.0).met is True
    assert figure(target_ratio=101.0, target_value=50.0).met is False
    assert figure(target_ratio=100.0, target_value=40.0).met is False  # "under 40" is strict
    assert figure(value=2.0e5, target_value=1e5, higher_is_better=True).met is True
    assert figure().met is None
    assert figure(ratio=None, target_ratio=1.0).met is False


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synthetic") / "l.duckdb"
    build_ledger(path, requests=6_000, per_run=1_000)
    return path


def test_fast_sweep_equals_the_naive_one(synthetic: Path) -> None:
    with Ledger(synthetic, read_only=True) as ledger:
        fast = sweep(ledger, "sweep")
        naive = naive_sweep(ledger, "sweep")
    assert len(fast.points) == len(naive) == 101
    for point, (threshold, cost, quality, p95) in zip(fast.points, naive, strict=True):
        assert point.threshold == threshold
        assert point.total_cost_usd == pytest.approx(cost, rel=1e-12)
        assert point.mean_quality == pytest.approx(quality, rel=1e-12)
        assert point.p95_latency_ms == p95  # exact: the same order statistics, the same lerp


def test_split_percentile_is_numpy_percentile_with_ties_and_odd_sizes() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 500):
        for cheap, premium in (
            (rng.random(n) * 100, rng.random(n) * 100 + 50),
            (rng.integers(0, 3, n).astype(float), rng.integers(0, 3, n).astype(float)),
        ):
            split = _SplitPercentile(cheap, premium, 95)
            for k in sorted({0, n // 3, n // 2, n}):
                mixed = np.concatenate([cheap[:k], premium[k:]])
                assert split.at(k) == float(np.percentile(mixed, 95))


def test_cost_dashboard_equals_pandas_over_every_call(synthetic: Path) -> None:
    for tenant in (None, "tenant2"):
        calls = read_calls(synthetic, tenant)  # what the Costs page once summed in pandas
        with Ledger(synthetic, read_only=True) as ledger:
            fast = cost_dashboard(ledger, tenant)
        by_stage = calls.groupby("stage")["cost_usd"].sum()
        got = fast.by_stage.set_index("stage")["cost_usd"]
        for stage, cost in by_stage.items():
            assert got[stage] == pytest.approx(cost, rel=1e-9)
        by_model = calls.groupby("model").agg(n=("call_id", "count"), cost=("cost_usd", "sum"))
        fast_model = fast.by_model.set_index("model")
        assert sorted(fast_model.index) == sorted(by_model.index)
        for model, row in by_model.iterrows():
            assert fast_model.loc[model, "calls"] == row["n"]
            assert fast_model.loc[model, "cost_usd"] == pytest.approx(row["cost"], rel=1e-9)
        assert fast.total_cost_usd == pytest.approx(calls["cost_usd"].sum(), rel=1e-9)
        assert fast.where["share"].sum() == pytest.approx(1.0)
        assert read_costs(synthetic, tenant).data["calls"] == len(calls)  # type: ignore[index]
