"""Routing lab, A/B tab: two runs, two thresholds or two (vision, LLM) threshold pairs compared,
with bootstrap intervals on the differences, and the per-question diff of two runs. Layout only."""

from __future__ import annotations

from typing import Any

import altair as alt
import streamlit as st

from assistant.views import format_usd
from assistant.views.grid import read_compare_pairs
from assistant.views.lab import (
    diff_sorts,
    read_compare_runs,
    read_compare_thresholds,
    read_run_diff,
    sort_run_diff,
)
from pages.common.cache import cached
from pages.lab.common import Lab, ab_runs, cost_choice, no_sweep_run, run_label, sweep_runs

TITLE = "A/B"

BOOTSTRAPPING = "Bootstrapping the differences…"
_compare_runs = cached(read_compare_runs, ttl_s=30, spinner=BOOTSTRAPPING)
_compare_thresholds = cached(read_compare_thresholds, ttl_s=30, spinner=BOOTSTRAPPING)
_compare_pairs = cached(read_compare_pairs, ttl_s=30, spinner=BOOTSTRAPPING)
_diff = cached(read_run_diff, ttl_s=30)

FORMATS = {  # (Python format, d3 format)
    "cost_per_media_hour_usd": (",.5f", "$,.5f"),
    "mean_quality": (".3f", ".3f"),
    "p95_latency_ms": (",.0f", ",.0f"),
}


def _shown(metric: str, value: float | None, fmt: str) -> str:
    """A headline figure as text: money through the one money formatter, the rest by ``fmt``."""
    if value is None or value != value:
        return "n/a"
    return format_usd(value) if metric.endswith("_usd") else format(value, fmt)


def _ab_result(result: Any) -> None:
    """Headline deltas, the statement, one interval chart per metric and the table."""
    table = result.table()
    (st.success if table["excludes_zero"].all() else st.info)(result.statement)
    st.caption(
        f"A = {result.a_label} · B = {result.b_label} · {result.pairing} · {result.labelled}"
    )
    st.caption(result.abstentions)
    columns = st.columns(len(table))
    for column, row in zip(columns, table.itertuples(), strict=True):
        fmt, d3 = FORMATS.get(row.metric, (".4g", ".4g"))
        value = _shown(row.metric, row.b, fmt)
        delta = None if row.diff is None or row.diff != row.diff else _shown(row.metric, row.diff, fmt)
        if delta is not None and row.diff > 0:
            delta = "+" + delta
        lower_better = row.metric != "mean_quality"
        column.metric(
            f"B: {row.title}",
            value,
            delta,
            delta_color="inverse" if lower_better else "normal",
            help=f"A: {_shown(row.metric, row.a, fmt)}. "
            f"{row.verdict}",
        )
        shown = table[table["metric"] == row.metric].dropna(subset=["low", "high"])
        if shown.empty:
            column.caption(row.verdict)
            continue
        base = alt.Chart(shown)
        x = alt.X("low:Q", title=f"B − A ({row.title})", axis=alt.Axis(format=d3))
        span = base.mark_rule(strokeWidth=4, color="#1f77b4").encode(x=x, x2="high:Q")
        dot = base.mark_circle(size=120, color="#d62728").encode(
            x="diff:Q",
            tooltip=[
                alt.Tooltip("diff:Q", title="B − A", format=d3),
                alt.Tooltip("low:Q", title="95% low", format=d3),
                alt.Tooltip("high:Q", title="95% high", format=d3),
            ],
        )
        zero = base.mark_rule(color="#555555", strokeDash=[4, 3]).encode(x=alt.datum(0))
        column.altair_chart(alt.layer(span, dot, zero).properties(height=90), width="stretch")
        column.caption(row.verdict)
    st.dataframe(
        table.drop(columns=["metric"]),
        hide_index=True,
        width="stretch",
        column_config={
            "title": st.column_config.TextColumn("metric"),
            "a": st.column_config.NumberColumn("A", format="%.5g"),
            "b": st.column_config.NumberColumn("B", format="%.5g"),
            "diff": st.column_config.NumberColumn("B − A", format="%.5g"),
            "low": st.column_config.NumberColumn("95% low", format="%.5g"),
            "high": st.column_config.NumberColumn("95% high", format="%.5g"),
            "sd": st.column_config.NumberColumn("bootstrap sd", format="%.3g"),
            "excludes_zero": st.column_config.CheckboxColumn("excludes 0"),
            "needed_n": st.column_config.NumberColumn(
                "needed per arm", help="for an interval that excludes 0 at this effect size"
            ),
            "verdict": st.column_config.TextColumn("verdict", width="large"),
        },
    )


def render(lab: Lab) -> None:
    mode = st.radio(
        "Compare",
        [
            "Two runs",
            "Two thresholds on one --both-tiers run",
            "Two threshold pairs (vision, LLM) on one --both-tiers run",
        ],
        horizontal=True,
        key="lab.ab.mode",
    )
    if mode.startswith("Two threshold pairs"):
        _ab_pairs_view(lab)
        return
    if mode == "Two runs":
        view = ab_runs(lab.ledger, lab.tenant)
        if view.data is None:
            st.info(view.message)
            return
        runs = view.data
        if len(runs) < 2:
            st.info(
                f"Only one run ({runs['run_id'][0]}) has requests. Replay another to compare: "
                "`python -m assistant replay datasets/demo --stt recorded --threshold 0.6`."
            )
            return
        labels = {r.run_id: run_label(r) for r in runs.itertuples()}
        ids = list(labels)
        left, right = st.columns(2)
        run_a = left.selectbox(
            "A (baseline)", ids, index=1, format_func=labels.__getitem__, key="lab.ab.a"
        )
        run_b = right.selectbox(
            "B (candidate)", ids, index=0, format_func=labels.__getitem__, key="lab.ab.b"
        )
        if run_a == run_b:
            st.info("Pick two different runs.")
            return
        result = _compare_runs(lab.ledger, run_a, run_b)
        if result.data is None:
            st.warning(result.message)
            return
        _ab_result(result.data)
        st.caption(
            "Cost per media hour counts the tier each request took plus the run's transcription "
            "(for a --both-tiers run, not the counterfactual calls)."
        )
        _run_diff(lab, run_a, run_b)
        return

    view = sweep_runs(lab.ledger, lab.tenant)
    if view.data is None:
        no_sweep_run(lab, view, key="lab.ab.thresholds")
        return
    labels = {r.run_id: run_label(r) for r in view.data.itertuples()}
    left, mid, right = st.columns([2, 1, 1])
    run_id = left.selectbox(
        "Run with tier outcomes", list(labels), format_func=labels.__getitem__, key="lab.ab.run"
    )
    threshold_a = mid.number_input(
        "Threshold A", min_value=0.0, max_value=1.0, value=0.3, step=0.05, key="lab.ab.ta"
    )
    threshold_b = right.number_input(
        "Threshold B", min_value=0.0, max_value=1.0, value=0.6, step=0.05, key="lab.ab.tb"
    )
    scenario = cost_choice(lab, run_id, "lab.ab.scenario")
    result = _compare_thresholds(
        lab.ledger, run_id, float(threshold_a), float(threshold_b), scenario
    )
    if result.data is None:
        st.warning(result.message)
        return
    _ab_result(result.data)
    st.caption(
        "Both thresholds are judged on the same requests from their recorded outcomes: no model "
        "is called, and pairing by request removes the questions' own variance."
    )


def _run_diff(lab: Lab, run_a: str, run_b: str) -> None:
    """The same questions of A and B side by side, sortable by the change in quality or cost."""
    st.subheader("Per question: B beside A")
    view = _diff(lab.ledger, run_a, run_b)
    diff = view.data
    if diff is None or diff.table.empty:
        st.info(view.message if diff is None else diff.summary())
        return
    st.caption(diff.summary())
    sort = st.selectbox("Sort by", diff_sorts(), key="lab.ab.diff_sort")
    money = st.column_config.NumberColumn(format="$%.6f")
    st.dataframe(
        sort_run_diff(diff.table, sort),
        hide_index=True,
        width="stretch",
        column_config={c: money for c in ("cost_usd_a", "cost_usd_b", "cost_change_usd")},
    )


def _ab_pairs_view(lab: Lab) -> None:
    view = sweep_runs(lab.ledger, lab.tenant)
    if view.data is None:
        no_sweep_run(lab, view, key="lab.ab.pairs")
        return
    labels = {r.run_id: run_label(r) for r in view.data.itertuples()}
    run_id = st.selectbox(
        "Run with tier outcomes", list(labels), format_func=labels.__getitem__, key="lab.ab.prun"
    )
    cols = st.columns(4)
    pairs = []
    for arm, column, (v, t) in zip(
        ("A", "B"), (cols[:2], cols[2:]), ((0.3, 0.3), (1.0, 0.3)), strict=True
    ):
        pairs.append(
            (
                float(
                    column[0].number_input(
                        f"{arm}: vision threshold", 0.0, 1.0, v, 0.05, key=f"lab.ab.{arm}v"
                    )
                ),
                float(
                    column[1].number_input(
                        f"{arm}: LLM threshold", 0.0, 1.0, t, 0.05, key=f"lab.ab.{arm}l"
                    )
                ),
            )
        )
    result = _compare_pairs(lab.ledger, run_id, pairs[0], pairs[1])
    if result.data is None:
        st.warning(result.message)
        return
    _ab_result(result.data)
    st.caption(
        "Each request takes the outcome its pair picks: premium answer when its score reaches "
        "the LLM threshold, premium screen reading when it needs the screen and its vision "
        "score reaches the vision threshold. No model is called."
    )
