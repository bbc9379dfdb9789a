"""The Fleet page: every session running anywhere, read from the ledger (or lake), not from the
workers. A run whose worker has not checkpointed for ``lost_after_s`` is shown as lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.views.result import ErrorKind, View, ledger_exists, read_ledger

FLEET_LOST_AFTER_S = 60.0
"""A running run's worker is lost when its last heartbeat (checkpoint) is older than this."""
FLEET_REFRESH_S = 5
"""How often the Fleet page reads the ledger again."""
FLEET_COLUMNS: tuple[str, ...] = (
    "state",
    "worker",
    "tenant",
    "room",
    "media_s",
    "requests",
    "premium_share",
    "cost_usd",
    "cost_per_media_hour_usd",
    "budget_usd_per_hour",
    "over_budget",
    "last_heartbeat_at",
    "heartbeat_age_s",
    "run_id",
)
FLEET_HINT = (
    "No session is running. Workers write here as they go: `python -m assistant replay "
    "datasets/demo --ledger LEDGER`, or agent workers with WORKBENCH_LEDGER set (a ducklake:… "
    "lake for many machines, see docs/scale-out.md)."
)


def _budget(config_json: str, tenant: str) -> float | None:
    """The run's budget in USD per media hour from its recorded configuration (None: none)."""
    try:
        routing = json.loads(config_json).get("routing", {})
        per_tenant = routing.get("tenant_budget_usd_per_hour") or {}
        budget = float(per_tenant.get(tenant, routing.get("budget_usd_per_hour") or 0.0))
    except (ValueError, TypeError, AttributeError):
        return None
    return budget if budget > 0 else None


def read_fleet(ledger_path: str | Path, *, lost_after_s: float = FLEET_LOST_AFTER_S) -> View[Any]:
    """Running sessions as a DataFrame of :data:`FLEET_COLUMNS`; ``state`` is ``running``,
    ``over budget`` or ``lost`` (no heartbeat for ``lost_after_s``)."""
    from assistant.ledger.queries.fleet import fleet_runs

    if not ledger_exists(ledger_path):
        return View.fail(
            ErrorKind.MISSING, f"Ledger {ledger_path} does not exist yet. {FLEET_HINT}"
        )
    view = read_ledger(ledger_path, fleet_runs)
    if view.data is None:
        return view
    frame = view.data
    if frame.empty:
        return View.fail(ErrorKind.EMPTY, FLEET_HINT)
    frame["budget_usd_per_hour"] = [
        _budget(c, t) for c, t in zip(frame["config_json"], frame["tenant"], strict=True)
    ]
    frame["over_budget"] = [
        budget is not None and per_hour is not None and per_hour == per_hour and per_hour > budget
        for budget, per_hour in zip(
            frame["budget_usd_per_hour"], frame["cost_per_media_hour_usd"], strict=True
        )
    ]
    lost = frame["heartbeat_age_s"] > lost_after_s
    frame["state"] = [
        "lost" if gone else "over budget" if over else "running"
        for gone, over in zip(lost, frame["over_budget"], strict=True)
    ]
    workers = frame["worker"].nunique()
    message = (
        f"{len(frame)} sessions on {workers} workers; {int(lost.sum())} lost "
        f"(no heartbeat for {lost_after_s:.0f} s); {int(frame['over_budget'].sum())} over budget"
    )
    return View(frame[list(FLEET_COLUMNS)].reset_index(drop=True), message)
