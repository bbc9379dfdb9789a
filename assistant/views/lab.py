"""Read side of the Routing lab's A/B, live-traffic and external-benchmark tabs: each analysis of
:mod:`assistant.analysis` (ab, offpolicy, benchmark) run on the ledger, as a
:class:`~assistant.views.result.View`; the scorer names the lab's charts show; and the lab's
empty state: a ``--both-tiers`` replay of the demo started as a background job.
No Streamlit import; the analyses load when first asked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.core.errors import LedgerError, WorkbenchError
from assistant.core.paths import DEMO_DATASET, ROUTELLM_DIR
from assistant.jobs.runner import Job, ReplayRequest, list_jobs, replay_request, start_replays
from assistant.views.result import ErrorKind, View, ledger_error, read_ledger, reading
from assistant.views.workbench import read_runs

AB_HINT = (
    "An A/B needs two runs with requests: replay the demo twice with different thresholds, e.g. "
    "`python -m assistant replay datasets/demo --stt recorded --threshold 0.3` and "
    "`... --threshold 0.6`."
)


def read_ab_runs(ledger_path: str | Path, tenant: str | None = None) -> View[Any]:
    """Runs with requests (newest first) for the A/B and live-traffic views, with ``explored``
    (requests routed at random) per run."""
    from assistant.ledger.queries import explored_counts

    view = read_runs(ledger_path, tenant)
    if view.data is None:
        return view
    runs = view.data[view.data["requests"] > 0].reset_index(drop=True)
    if runs.empty:
        return View.fail(ErrorKind.EMPTY, AB_HINT)
    try:
        with reading(ledger_path) as ledger:
            explored = explored_counts(ledger)
    except LedgerError as exc:
        return ledger_error(exc)
    runs["explored"] = [explored.get(r, 0) for r in runs["run_id"]]
    return View(runs)


def read_compare_runs(ledger_path: str | Path, run_a: str, run_b: str) -> View[Any]:
    """:func:`~assistant.analysis.ab.compare_runs` (the message says what went wrong)."""
    from assistant.analysis.ab import compare_runs

    return read_ledger(
        ledger_path, lambda ledger: compare_runs(ledger, run_a, run_b), catch=(ValueError,)
    )


def read_compare_thresholds(
    ledger_path: str | Path,
    run_id: str,
    threshold_a: float,
    threshold_b: float,
    scenario: str | None = None,
) -> View[Any]:
    """:func:`~assistant.analysis.ab.compare_thresholds` on one ``--both-tiers`` run; with a
    price ``scenario`` (not "measured"), on its projected costs."""
    from assistant.analysis.ab import compare_thresholds

    priced = None if scenario in (None, "measured") else scenario
    return read_ledger(
        ledger_path,
        lambda ledger: compare_thresholds(
            ledger, run_id, threshold_a, threshold_b, scenario=priced
        ),
        catch=(ValueError,),
    )


def read_ipw_curve(
    ledger_path: str | Path, run_id: str, reference_run: str | None = None
) -> View[Any]:
    """:func:`~assistant.analysis.offpolicy.run_ipw_curve` (data: the IPWCurve, whose message
    may explain why it has no points)."""
    from assistant.analysis.offpolicy import run_ipw_curve

    return read_ledger(
        ledger_path,
        lambda ledger: run_ipw_curve(ledger, run_id, reference_run=reference_run),
        catch=(ValueError,),
    )


def ipw_sentence(curve: Any) -> str:
    """How much to trust an IPW curve, in one sentence (:func:`analysis.offpolicy.ipw_sentence`)."""
    from assistant.analysis.offpolicy import ipw_sentence as sentence

    return sentence(curve)


def read_benchmark(paths: Sequence[str | Path] | None = None) -> View[Any]:
    """:func:`~assistant.analysis.routing_eval.external_benchmark` on ``paths`` (default: every CSV
    in datasets/routellm); the message says where to put CSVs when there are none."""
    from assistant.analysis.routing_eval import benchmark_csvs, external_benchmark

    files = list(paths) if paths is not None else benchmark_csvs()
    if not files:
        return View.fail(
            ErrorKind.EMPTY,
            f"No per-prompt benchmark CSV in {ROUTELLM_DIR}: put RouteLLM's results there "
            "(columns item_id, prompt, weak_score, strong_score; see datasets/routellm/README.md).",
        )
    try:
        return View(external_benchmark(files))
    except (WorkbenchError, ValueError) as exc:
        return View.fail(ErrorKind.INVALID, str(exc))


def read_run_diff(ledger_path: str | Path, run_a: str, run_b: str) -> View[Any]:
    """:func:`~assistant.analysis.diff.diff_runs`: the same questions of two runs side by side."""
    from assistant.analysis.diff import diff_runs

    return read_ledger(
        ledger_path, lambda ledger: diff_runs(ledger, run_a, run_b), catch=(ValueError,)
    )


def diff_sorts() -> tuple[str, ...]:
    """The per-question diff's sort choices (:data:`assistant.analysis.diff.SORTS`)."""
    from assistant.analysis.diff import SORTS

    return tuple(SORTS)


def sort_run_diff(table: Any, sort: str) -> Any:
    """:func:`~assistant.analysis.diff.sort_diff`."""
    from assistant.analysis.diff import sort_diff

    return sort_diff(table, sort)


def read_cross_suite(paths: Sequence[str | Path] | None = None) -> View[Any]:
    """Leave-one-suite-out (:func:`~assistant.analysis.cross_suite.leave_one_suite_out`) over
    ``paths`` (default: every CSV in datasets/routellm) as a table: each suite held out in turn,
    the fitted routers trained on the others only."""
    from assistant.analysis.cross_suite import cross_suite_table, leave_one_suite_out
    from assistant.analysis.routing_eval import benchmark_csvs, load_suite

    files = list(paths) if paths is not None else benchmark_csvs()
    if len(files) < 2:
        return View.fail(
            ErrorKind.EMPTY,
            f"The cross-suite protocol needs two or more per-prompt CSVs in {ROUTELLM_DIR} "
            "(one is held out while the routers are fitted on the others).",
        )
    try:
        report = leave_one_suite_out([load_suite(f) for f in files])
    except (WorkbenchError, ValueError) as exc:
        return View.fail(ErrorKind.INVALID, str(exc))
    return View(cross_suite_table(report))


# --- names the lab's charts show -----------------------------------------------------------------


def scorer_names() -> tuple[str, ...]:
    """Every registered scorer (:func:`assistant.routing.registry.scorer_names`): the one place
    the lab's pages read scorer names from."""
    from assistant.routing.registry import scorer_names as names

    return names()


def benchmark_chart_routers() -> tuple[str, ...]:
    """The routers the external-benchmark charts draw, in legend order: the registry's benchmark
    scorers, then the random baseline and the oracle ceiling (``read_benchmark``'s names)."""
    from assistant.routing.registry import ORACLE, RANDOM, benchmark_scorers

    return (*benchmark_scorers(), RANDOM, ORACLE)


def benchmark_baselines() -> tuple[str, ...]:
    """Drawn beside the scorers on the external benchmark: random routing (APGR 0.5), the oracle."""
    from assistant.routing.registry import ORACLE, RANDOM

    return (RANDOM, ORACLE)


# --- the empty state: a --both-tiers replay of the demo, in the background -----------------------

LAB_DEMO = DEMO_DATASET  # the dataset the empty state replays (a test points it elsewhere)
LAB_DEMO_LABEL = "demo, both tiers (Routing lab)"
LAB_DEMO_COMMAND = "python -m assistant replay datasets/demo --stt recorded --both-tiers"
NO_COUNTERFACTUAL = (
    "No counterfactual run yet. The lab needs a replay that answered every question with both "
    "tiers: then any threshold's cost and quality is a query, no model is called again."
)


def lab_demo_request(ledger_path: str | Path) -> ReplayRequest:
    """The empty state's replay: the demo with its recorded transcript and both tiers, into
    ``ledger_path`` (the same as :data:`LAB_DEMO_COMMAND`)."""
    request = replay_request(
        dataset=str(LAB_DEMO), ledger=str(ledger_path), stt="recorded:", both_tiers=True
    )
    return dataclasses.replace(request, label=LAB_DEMO_LABEL)


def start_lab_demo(ledger_path: str | Path) -> View[Job]:
    """Start :func:`lab_demo_request` as a background job (``assistant.jobs``); the message says
    what went wrong when it cannot start."""
    try:
        return View(start_replays(lab_demo_request(ledger_path)))
    except (WorkbenchError, ValueError, OSError) as exc:
        return View.fail(ErrorKind.INVALID, f"The demo replay could not start: {exc}")


def lab_demo_jobs(ledger_path: str | Path) -> list[Job]:
    """The empty state's replays into ``ledger_path``, newest first."""
    return [j for j in list_jobs(ledger=str(ledger_path)) if j.label == LAB_DEMO_LABEL]
