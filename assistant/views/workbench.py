"""Read side of the Runs, Costs and Routing lab (sweep) pages, and the sidebar: no Streamlit
import, testable on its own. Every function returns a :class:`~assistant.views.result.View`.

The pages read through ``reading``: the app owns the ledger file and ingests what replays in
other processes spooled, so their runs appear as you browse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.core.errors import LedgerError
from assistant.core.money import format_usd
from assistant.ledger.queries.costs import COST_STAGES as COST_STAGES  # the Costs page's stages
from assistant.views.result import ErrorKind, View, ledger_error, ledger_exists, reading

ALL_TENANTS = "All tenants"
EMPTY_HINT = "No runs yet: replay the demo with `python -m assistant replay datasets/demo`."


def provider_keys(environ: dict[str, str] | None = None) -> dict[str, bool]:
    """Which providers have their keys set, by display name: every vendor in the catalog
    (``providers.catalog``), then LiveKit (names only; values are never read out). Keys are found
    where the adapters look (the environment, ``.env``, ``.streamlit/secrets.toml``) unless
    ``environ`` is given, which is then the only place looked."""
    from assistant.livekit.admin import ENV_VARS as LIVEKIT_VARIABLES
    from assistant.providers.catalog import vendors
    from assistant.providers.keys import get_key

    def present(variable: str) -> bool:
        return bool(environ.get(variable)) if environ is not None else get_key(variable) is not None

    # a vendor's key is any one of its variables; LiveKit needs all three
    status = {v.display_name: any(present(k) for k in v.key_envs) for v in vendors()}
    status["LiveKit"] = all(present(v) for v in LIVEKIT_VARIABLES)
    return status


def key_hint(vendor_name: str) -> str:
    """The variable(s) a vendor's key is read from, as a user sets them (from the catalog)."""
    from assistant.providers.catalog import vendor

    return " or ".join(vendor(vendor_name).key_envs)


def read_tenants(ledger_path: str | Path) -> list[str]:
    """Tenants that have runs in the ledger (empty when there is no readable ledger)."""
    view = read_runs(ledger_path)
    return [] if view.data is None else sorted(set(view.data["tenant"]))


def read_rejected(ledger_path: str | Path) -> View[list[dict[str, Any]]]:
    """Spooled segments the workbench could not ingest, newest first, each with its reason (a
    run id already taken, an unreadable file): rows a writer reported as spooled that did not
    land. EMPTY when there are none."""
    from assistant.ledger.spool import rejected_segments, spool_dir

    found = rejected_segments(ledger_path)
    if not found:
        return View.fail(ErrorKind.EMPTY, "no rejected segments")
    rows = [
        {"rejected_at": r.rejected_at, "segment": r.segment, "reason": r.reason} for r in found
    ]
    where = spool_dir(ledger_path) / "rejected"
    return View.of(
        rows,
        f"{len(rows)} spooled segments were not ingested (their rows are not in the ledger); "
        f"they are kept in {where} with their reasons. Re-run those replays with another "
        "--run-id.",
    )


def read_runs(ledger_path: str | Path, tenant: str | None = None) -> View[Any]:
    from assistant.ledger.queries import list_runs

    if not ledger_exists(ledger_path):
        return View.fail(ErrorKind.MISSING, f"Ledger {ledger_path} does not exist yet. {EMPTY_HINT}")
    try:
        with reading(ledger_path) as ledger:
            runs = list_runs(ledger)
    except LedgerError as exc:
        return ledger_error(exc)
    if runs.empty:
        return View.fail(ErrorKind.EMPTY, EMPTY_HINT)
    if tenant and tenant != ALL_TENANTS:
        runs = runs[runs["tenant"] == tenant]
        if runs.empty:
            return View.fail(ErrorKind.EMPTY, f"No runs for tenant {tenant!r} yet. {EMPTY_HINT}")
    return View(runs.reset_index(drop=True))


def read_run(ledger_path: str | Path, run_id: str) -> View[Any]:
    """A run's summary, requests, calls-by-stage and kept frames."""
    from assistant.ledger.queries import run_calls, run_frames, run_requests, run_summary
    from assistant.ledger.queries.judge import run_judgements

    try:
        with reading(ledger_path) as ledger:
            summary = run_summary(ledger, run_id)
            requests = run_requests(ledger, run_id)
            calls = run_calls(ledger, run_id)
            frames = run_frames(ledger, run_id)
            judged = run_judgements(ledger, run_id)
    except LedgerError as exc:
        return ledger_error(exc)
    if not judged.empty:  # the routed answer's grade, beside the offline quality
        requests = requests.merge(
            judged[["request_id", "tier", "judge_score", "judge_reason"]],
            on=["request_id", "tier"],
            how="left",
        )
    by_stage = (
        calls.groupby("stage", as_index=False).agg(
            calls=("call_id", "count"),
            cost_usd=("cost_usd", "sum"),
            latency_ms=("latency_ms", "sum"),
        )
        if not calls.empty
        else calls
    )
    return View(
        {
            "summary": summary,
            "requests": requests,
            "by_stage": by_stage,
            "frames": frames,
            "judge": judge_summary(judged),
        }
    )


def judge_summary(judged: Any) -> dict[str, Any] | None:
    """Mean grade, models and the judge's own cost, or None when the run was never judged."""
    if judged.empty:
        return None
    return {
        "mean_score": float(judged["judge_score"].mean()),
        "graded": len(judged),
        "models": sorted(set(judged["judge_model"])),
        "cost_usd": float(judged["cost_usd"].sum()),
    }


def labelled_sentence(result: Any) -> str:
    """'n of m labelled' for a sweep's all-premium and all-cheap ends."""
    m = result.requests
    if result.premium_labelled == result.cheap_labelled:
        return f"{result.premium_labelled} of {m} labelled"
    return (
        f"premium {result.premium_labelled} of {m}, cheap {result.cheap_labelled} of {m} labelled"
    )


# --- Routing lab: threshold sweeps of --both-tiers runs -------------------------------------

SWEEP_HINT = "No counterfactual run yet: python -m assistant replay datasets/demo --stt recorded --both-tiers"
SWEEP_TABLE_STEP = 0.05


def read_sweep_runs(ledger_path: str | Path, tenant: str | None = None) -> View[Any]:
    """Runs that have tier outcomes (``--both-tiers`` replays), newest first, for one tenant."""
    from assistant.ledger.queries import list_runs, runs_with_tier_outcomes

    if not ledger_exists(ledger_path):
        return View.fail(ErrorKind.MISSING, f"Ledger {ledger_path} does not exist yet. {SWEEP_HINT}")
    try:
        with reading(ledger_path) as ledger:
            runs = list_runs(ledger)
            with_outcomes = runs_with_tier_outcomes(ledger)
    except LedgerError as exc:
        return ledger_error(exc)
    runs = runs[runs["run_id"].isin(with_outcomes)]
    if tenant and tenant != ALL_TENANTS:
        runs = runs[runs["tenant"] == tenant]
    if runs.empty:
        return View.fail(ErrorKind.EMPTY, SWEEP_HINT)
    return View(runs.reset_index(drop=True))


def read_sweep(
    ledger_path: str | Path, run_id: str, target: float = 0.95, scenario: str | None = None
) -> View[Any]:
    """One run's threshold sweep, ready to draw.

    ``data`` holds ``points`` (one row per threshold, with ``pareto`` and ``recommended`` flags and
    a ``cost_usd`` column: cost per media hour when the media duration is known, else the run's
    total), ``table`` (every 0.05 plus the recommendation), ``cost_title``, ``recommended`` (a dict
    or None), ``sentence`` (the recommendation in words), ``premium_quality`` and ``cheap_quality``.
    ``scenario`` (a price scenario, not "measured") sweeps the run's projected costs instead.
    """
    import pandas as pd

    from assistant.analysis.sweep import sweep

    try:
        with reading(ledger_path) as ledger:
            result = sweep(
                ledger, run_id, scenario=None if scenario in (None, "measured") else scenario
            )
    except LedgerError as exc:
        return ledger_error(exc)
    best = result.recommend(target)
    front = {p.threshold for p in result.pareto()}
    points = pd.DataFrame(
        [
            {
                "threshold": p.threshold,
                "premium_share": p.premium_share,
                "mean_quality": p.mean_quality,
                "labelled": p.labelled,
                "abstained": p.abstained,
                "total_cost_usd": p.total_cost_usd,
                "cost_per_media_hour_usd": p.cost_per_media_hour_usd,
                "p95_latency_ms": p.p95_latency_ms,
                "pareto": p.threshold in front,
                "recommended": best is not None and p.threshold == best.threshold,
            }
            for p in result.points
        ]
    )
    per_hour = points["cost_per_media_hour_usd"].notna().all()
    points["cost_usd"] = points["cost_per_media_hour_usd" if per_hour else "total_cost_usd"]
    cost_title = "cost per media hour (USD)" if per_hour else "run cost (USD)"
    if scenario not in (None, "measured"):
        cost_title = f"projected {cost_title} ({scenario})"
    points["front"] = points["pareto"].map({True: "Pareto", False: "dominated"})
    points["label"] = [
        f"recommended {t:.2f}" if r else ""
        for t, r in zip(points["threshold"], points["recommended"], strict=True)
    ]
    ratio = points["threshold"] / SWEEP_TABLE_STEP
    on_step = (ratio - ratio.round()).abs() < 1e-9
    table = points[on_step | points["recommended"]].drop(columns=["cost_usd", "front", "label"])
    return View(
        {
            "points": points,
            "table": table.reset_index(drop=True),
            "cost_title": cost_title,
            "recommended": None
            if best is None
            else points[points["recommended"]].iloc[0].to_dict(),
            "sentence": sweep_sentence(result, target),
            "premium_quality": result.premium_quality,
            "labelled": labelled_sentence(result),
            "cheap_quality": result.cheap_quality,
            "requests": result.requests,
        }
    )


def sweep_sentence(result: Any, target: float) -> str:
    """The recommendation of a :class:`~assistant.analysis.sweep.SweepResult` in one sentence."""
    best = result.recommend(target)
    if best is None:
        return (
            f"No threshold reaches {target:.0%} of all-premium quality "
            "(or the run has no quality references)."
        )
    cost = (
        f"{format_usd(best.cost_per_media_hour_usd)} per media hour"
        if best.cost_per_media_hour_usd is not None
        else f"{format_usd(best.total_cost_usd)} for the run"
    )
    return (
        f"Use threshold {best.threshold:.2f}: the cheapest reaching {target:.0%} of all-premium "
        f"quality ({best.mean_quality:.3f} vs {result.premium_quality:.3f}), with "
        f"{best.premium_share:.0%} of requests premium, {cost}, p95 {best.p95_latency_ms:.0f} ms."
    )


# --- Costs: where the money goes --------------------------------------------------------------

def read_costs(ledger_path: str | Path, tenant: str | None = None) -> View[Any]:
    """Cost figures for one tenant (or all), aggregated in DuckDB (``queries.cost_dashboard``):
    ``runs`` (cost per media hour by run), ``by_stage``, ``by_model``, ``where`` (stage x model:
    calls, cost_usd, share of the total), ``calls`` (how many) and ``total_cost_usd``. The calls
    themselves are read only for an export (``export_calls``)."""
    from assistant.ledger.queries import cost_dashboard

    if not ledger_exists(ledger_path):
        return View.fail(ErrorKind.MISSING, f"Ledger {ledger_path} does not exist yet. {EMPTY_HINT}")
    scope = tenant if tenant and tenant != ALL_TENANTS else None
    try:
        with reading(ledger_path) as ledger:
            costs = cost_dashboard(ledger, scope)
    except LedgerError as exc:
        return ledger_error(exc)
    if costs.runs.empty:
        if scope:
            return View.fail(ErrorKind.EMPTY, f"No runs for tenant {tenant!r} yet. {EMPTY_HINT}")
        return View.fail(ErrorKind.EMPTY, EMPTY_HINT)
    return View(
        {
            "runs": costs.runs,
            "by_stage": costs.by_stage,
            "by_model": costs.by_model,
            "where": costs.where,
            "calls": int(costs.by_stage["calls"].sum()),
            "total_cost_usd": costs.total_cost_usd,
        }
    )


def read_calls(ledger_path: str | Path, tenant: str | None = None) -> Any:
    """Every call of one tenant (or all), with ``model`` = provider:model, for an export."""
    from assistant.ledger.queries import tenant_calls

    with reading(ledger_path) as ledger:
        return tenant_calls(ledger, tenant if tenant and tenant != ALL_TENANTS else None)


def export_calls(ledger_path: str | Path, tenant: str | None, fmt: str) -> bytes:
    """The calls as CSV or Parquet bytes, read when the export is asked for."""
    calls = read_calls(ledger_path, tenant)
    if fmt == "csv":
        return calls_csv(calls)
    if fmt == "parquet":
        return calls_parquet(calls)
    raise ValueError(f"export format must be csv or parquet, not {fmt!r}")


def calls_csv(calls: Any) -> bytes:
    """The calls table as UTF-8 CSV."""
    text: str = calls.to_csv(index=False)
    return text.encode("utf-8")


def calls_parquet(calls: Any) -> bytes:
    """The calls table as Parquet (pyarrow)."""
    from io import BytesIO

    buffer = BytesIO()
    calls.to_parquet(buffer, index=False)
    return buffer.getvalue()
