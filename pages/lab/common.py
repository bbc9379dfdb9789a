"""What the Routing lab's tabs share: the ledger and tenant they read (:class:`Lab`), the cached
readers more than one tab uses, a run's label, the costs chooser, and the empty state that
offers a ``--both-tiers`` replay of the demo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from assistant.views import ErrorKind, View, job_status
from assistant.views.lab import (
    LAB_DEMO_COMMAND,
    NO_COUNTERFACTUAL,
    lab_demo_jobs,
    read_ab_runs,
    start_lab_demo,
)
from assistant.views.projection import read_sweep_scenarios
from assistant.views.workbench import read_sweep_runs
from pages.common.cache import cached


@dataclass(frozen=True, slots=True)
class Lab:
    """What every tab reads: the sidebar's ledger file and tenant."""

    ledger: str
    tenant: str | None


sweep_runs = cached(read_sweep_runs, ttl_s=5)
ab_runs = cached(read_ab_runs, ttl_s=5)
scenarios = cached(read_sweep_scenarios, ttl_s=5)
RUN_LISTS = (sweep_runs, ab_runs, scenarios)  # cleared when a replay started here ends


def run_label(row: Any) -> str:
    threshold = getattr(row, "threshold", None)
    at = f" · threshold {threshold:.2f}" if threshold == threshold and threshold is not None else ""
    return f"{row.run_id} · {row.dataset_name or row.tenant}{at} · {row.requests} requests"


def cost_choice(lab: Lab, run_id: str, key: str) -> str:
    """Measured costs, or one of the price scenarios the run was projected under."""
    return str(
        st.selectbox(
            "Costs",
            scenarios(lab.ledger, run_id),
            key=key,
            help="measured: what the run's calls cost; a scenario: what the same traffic would "
            "cost on its cloud models (projected; quality stays as measured)",
        )
    )


# --- the empty state -----------------------------------------------------------------------------


def refresh_after_demo_jobs(lab: Lab) -> None:
    """Drop the cached run lists once a demo replay started here has ended (so its run shows)."""
    done = {j.job_id for j in lab_demo_jobs(lab.ledger) if job_status(j).done}
    if done - st.session_state.get("lab.demo.done", set()):
        for reader in RUN_LISTS:
            reader.clear()
    st.session_state["lab.demo.done"] = done


def _start_demo(ledger: str) -> None:
    started = start_lab_demo(ledger)
    st.session_state["lab.demo.error"] = started.message if started.data is None else None


def no_sweep_run(lab: Lab, view: View[Any], *, key: str) -> None:
    """Why there is no ``--both-tiers`` run to show; when the ledger simply has none yet, a button
    that replays the demo with both tiers in the background, its progress, then the run."""
    if view.error not in (ErrorKind.EMPTY, ErrorKind.MISSING):
        st.info(view.message)
        return
    jobs = lab_demo_jobs(lab.ledger)
    status = job_status(jobs[0]) if jobs else None
    running = status is not None and not status.done
    if not running:
        st.info(NO_COUNTERFACTUAL)
        st.button(
            "Replay the demo with both tiers",
            type="primary",
            key=f"{key}.demo",
            on_click=_start_demo,
            args=(lab.ledger,),
            help=f"Runs `{LAB_DEMO_COMMAND}` in the background (recorded transcript, offline "
            "models); you can leave the page meanwhile. Other datasets: the Replay page.",
        )
        error = st.session_state.get("lab.demo.error")
        if error:
            st.error(error)
    if status is not None:
        _demo_progress(lab, running=running)


def _demo_progress(lab: Lab, *, running: bool) -> None:
    @st.fragment(run_every=1 if running else None)
    def progress() -> None:
        jobs = lab_demo_jobs(lab.ledger)
        if not jobs:
            return
        status = job_status(jobs[0])
        st.progress(status.fraction, text=status.text)
        if status.state == "failed":
            st.caption(f"Log: {jobs[0].steps[status.current].log_file}")
        if running and status.done:  # it just ended: read the run lists anew, show the run
            refresh_after_demo_jobs(lab)
            st.rerun()

    progress()
