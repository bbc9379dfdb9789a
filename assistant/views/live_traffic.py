"""The Routing lab's "From live traffic" for agent runs (``RoutedLLM``) and any run logged with
exploration: other thresholds' cost and quality estimated from the logged decisions (both
decisions: a turn with an image is routed by the vision threshold), with intervals, and the
check of that estimate against the truth on a simulated fleet. No Streamlit import.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.views.result import ErrorKind, View, read_ledger


def read_live_estimate(
    ledger_path: str | Path,
    run_id: str,
    *,
    thresholds: Sequence[float] | None = None,
    vision_thresholds: Sequence[float] | None = None,
    resamples: int = 1000,
) -> View[Any]:
    """:func:`~assistant.analysis.offpolicy.run_live_estimate`: data is the ``LiveEstimate``
    (its ``points`` table, or its ``message`` saying why there are none and what to do)."""
    from assistant.analysis.offpolicy import run_live_estimate

    view = read_ledger(
        ledger_path,
        lambda ledger: run_live_estimate(
            ledger,
            run_id,
            thresholds=thresholds,
            vision_thresholds=vision_thresholds,
            resamples=resamples,
        ),
        catch=(ValueError,),
    )
    if view.data is not None and view.data.points is None:
        return View.fail(ErrorKind.EMPTY, view.data.message or f"nothing to estimate in {run_id}")
    return view


def live_estimate_sentence(estimate: Any) -> str:
    """How much to trust a live estimate, in one sentence."""
    if estimate.points is None:
        return str(estimate.message or "")
    eff = estimate.points["effective_n"]
    eff = eff[eff > 0]
    quality = (
        f"quality from the {estimate.labelled} labelled ones"
        if estimate.labelled
        else "no quality: none of them is labelled (label them on the Label page)"
    )
    return (
        f"Estimated from {estimate.rows} logged requests of run {estimate.run_id}, "
        f"{estimate.explored} routed at random: cost from all of them, {quality}. Each policy "
        f"rests on an effective {eff.min():.0f}-{eff.max():.0f} requests; intervals are 95%, "
        f"from {estimate.resamples} seeded bootstrap resamples."
        if len(eff)
        else f"No logged request matches any of these policies in run {estimate.run_id}."
    )


def read_fleet_check(
    *,
    turns: int = 4000,
    threshold: float = 0.5,
    vision_threshold: float = 0.5,
    explore_share: float = 0.3,
    pairs: Sequence[tuple[float, float]] = ((0.3, 0.5), (0.7, 0.5), (0.5, 0.3), (0.5, 0.7)),
    seed: int = 0,
) -> View[Any]:
    """The estimate's error on a simulated fleet (synthetic traffic whose both-tier outcomes
    are known), logged at ``threshold`` / ``vision_threshold`` with ``explore_share``: one row
    per policy in ``pairs`` with the estimate, its interval, the truth and the relative errors."""
    from assistant.analysis.fleet import fleet_check, simulate_fleet

    try:
        fleet = simulate_fleet(
            turns,
            threshold=threshold,
            vision_threshold=vision_threshold,
            explore_share=explore_share,
            seed=seed,
        )
        return View(fleet_check(fleet, list(pairs), seed=seed))
    except ValueError as exc:
        return View.fail(ErrorKind.INVALID, str(exc))
