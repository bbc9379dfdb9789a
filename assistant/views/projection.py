"""Read side of the projected costs: the Costs page's "on cloud models" section and the scenarios
the Routing lab's sweep can price with. No Streamlit import.

Measured and projected figures sit side by side, never summed: measured ones from the calls the
run made, projected ones from ``projections`` (what the same traffic would cost on a scenario's
cloud models).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.core.errors import LedgerError
from assistant.views.result import ErrorKind, View, ledger_error, ledger_exists, reading
from assistant.views.workbench import ALL_TENANTS

PROJECT_HINT = (
    "No projected costs yet: replays record them for the shipped scenarios (seed, budget); "
    "for an older run or another scenario, `python -m assistant project --run RUN_ID --scenario "
    "seed`."
)
MEASURED = "measured"


def read_projected_costs(ledger_path: str | Path, tenant: str | None = None) -> View[Any]:
    """``scenarios`` (names), ``by_stage`` (run x scenario x stage: measured and projected USD
    per media hour, side by side), ``per_run`` (run x scenario totals per media hour) and
    ``by_model`` (scenario x stage x model: calls, projected USD per media hour, token method)."""
    import pandas as pd

    from assistant.ledger.queries.projection import measured_by_stage, projected_by_stage

    if not ledger_exists(ledger_path):
        return View.fail(ErrorKind.MISSING, f"Ledger {ledger_path} does not exist yet.")
    scope = tenant if tenant and tenant != ALL_TENANTS else None
    try:
        with reading(ledger_path) as ledger:
            projected = projected_by_stage(ledger, scope)
            measured = measured_by_stage(ledger, scope)
    except LedgerError as exc:
        return ledger_error(exc)
    if projected.empty:
        return View.fail(ErrorKind.EMPTY, PROJECT_HINT)
    stage = (
        projected.groupby(["run_id", "scenario", "stage"], as_index=False)
        .agg(projected_usd_per_hour=("cost_per_media_hour_usd", "sum"))
        .merge(
            measured.rename(columns={"cost_per_media_hour_usd": "measured_usd_per_hour"})[
                ["run_id", "stage", "measured_usd_per_hour"]
            ],
            on=["run_id", "stage"],
            how="left",
        )
    )
    per_run = (
        stage.groupby(["run_id", "scenario"], as_index=False)
        .agg(
            projected_usd_per_hour=("projected_usd_per_hour", "sum"),
        )
        .merge(
            measured.groupby("run_id", as_index=False).agg(
                measured_usd_per_hour=("cost_per_media_hour_usd", "sum")
            ),
            on="run_id",
            how="left",
        )
    )
    by_model = projected.groupby(
        ["scenario", "stage", "model", "token_method"], as_index=False
    ).agg(calls=("calls", "sum"), projected_usd_per_hour=("cost_per_media_hour_usd", "mean"))
    scenarios = sorted(pd.unique(projected["scenario"]).tolist())
    return View(
        {
            "scenarios": scenarios,
            "by_stage": stage,
            "per_run": per_run,
            "by_model": by_model,
        }
    )


def read_sweep_scenarios(ledger_path: str | Path, run_id: str) -> list[str]:
    """``["measured", *scenarios the run was projected under]``: the sweep's cost choices."""
    from assistant.ledger.queries.projection import run_scenarios

    try:
        with reading(ledger_path) as ledger:
            return [MEASURED, *run_scenarios(ledger, run_id)]
    except LedgerError:
        return [MEASURED]
