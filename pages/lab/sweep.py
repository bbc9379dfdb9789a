"""Routing lab, first tab: one --both-tiers run's threshold sweep (cost against quality, the
Pareto front, the recommended threshold) and its (vision, LLM) threshold grid. Layout only."""

from __future__ import annotations

import altair as alt
import streamlit as st

from assistant.views.grid import read_grid
from assistant.views.workbench import read_sweep
from pages.common.cache import cached
from pages.lab.common import Lab, cost_choice, no_sweep_run, sweep_runs

TITLE = "Threshold sweep"

_sweep = cached(read_sweep, ttl_s=5)
_grid = cached(read_grid, ttl_s=5)


def render(lab: Lab) -> None:
    view = sweep_runs(lab.ledger, lab.tenant)
    if view.data is None:
        no_sweep_run(lab, view, key="lab.sweep")
        return

    runs = view.data
    labels = {
        r.run_id: f"{r.run_id} · {r.dataset_name or r.tenant} · {r.requests} requests"
        for r in runs.itertuples()
    }
    left, right = st.columns([2, 1])
    run_id = left.selectbox(
        "Run with tier outcomes", list(labels), format_func=labels.__getitem__, key="lab.run"
    )
    target = right.slider(
        "Target: share of all-premium quality",
        min_value=0.5,
        max_value=1.0,
        value=0.95,
        step=0.01,
        format="percent",
        key="lab.target",
    )
    scenario = cost_choice(lab, run_id, "lab.scenario")
    sweep = _sweep(lab.ledger, run_id, target, scenario)
    if sweep.data is None:
        st.warning(sweep.message)
        return

    data = sweep.data
    if data["recommended"] is None:
        st.warning(data["sentence"])
    else:
        st.success(data["sentence"])

    points = data["points"]
    tooltip = [
        alt.Tooltip("threshold:Q", format=".2f"),
        alt.Tooltip("premium_share:Q", format=".0%", title="premium share"),
        alt.Tooltip("mean_quality:Q", format=".3f", title="mean quality"),
        alt.Tooltip("cost_usd:Q", format="$.4f", title=data["cost_title"]),
        alt.Tooltip("p95_latency_ms:Q", format=".0f", title="p95 latency (ms)"),
    ]
    x = alt.X("cost_usd:Q", title=data["cost_title"], scale=alt.Scale(zero=False))
    y = alt.Y("mean_quality:Q", title="mean quality", scale=alt.Scale(zero=False))
    base = alt.Chart(points).encode(x=x, y=y, tooltip=tooltip)
    curve = base.mark_line(color="#bbbbbb").encode(order="threshold:Q")
    dots = base.mark_circle(size=60).encode(
        color=alt.Color(
            "front:N",
            title=None,
            scale=alt.Scale(domain=["Pareto", "dominated"], range=["#d62728", "#9e9e9e"]),
        )
    )
    best = base.transform_filter(alt.datum.recommended)
    marked = best.mark_point(
        shape="diamond", size=300, filled=False, color="#2ca02c", strokeWidth=3
    )
    label = best.mark_text(align="right", dx=-14, dy=0, color="#2ca02c").encode(text="label:N")

    share = (
        alt.Chart(points)
        .mark_line(color="#1f77b4")
        .encode(
            x=alt.X("threshold:Q", title="threshold"),
            y=alt.Y("premium_share:Q", title="premium share", axis=alt.Axis(format="%")),
            tooltip=tooltip,
        )
    )
    latency = (
        alt.Chart(points)
        .mark_line(color="#ff7f0e", strokeDash=[4, 3])
        .encode(
            x="threshold:Q",
            y=alt.Y("p95_latency_ms:Q", title="p95 latency (ms)", scale=alt.Scale(zero=False)),
            tooltip=tooltip,
        )
    )
    rule = alt.Chart(points).transform_filter(alt.datum.recommended).mark_rule(color="#2ca02c")
    rule = rule.encode(x="threshold:Q")

    cost_col, share_col = st.columns(2)
    with cost_col:
        st.subheader("Cost against quality")
        st.altair_chart(
            alt.layer(curve, dots, marked, label).properties(height=320), width="stretch"
        )
    with share_col:
        st.subheader("Premium share and p95 latency")
        st.altair_chart(
            alt.layer(share, latency, rule).resolve_scale(y="independent").properties(height=320),
            width="stretch",
        )
        st.caption("Solid: premium share (left axis). Dashed: p95 latency (right axis).")

    quality = " · ".join(
        f"{name} {value:.3f}"
        for name, value in (
            ("all-premium quality", data["premium_quality"]),
            ("all-cheap quality", data["cheap_quality"]),
        )
        if value is not None
    )
    quality += f" ({data['labelled']})"
    st.subheader("Sweep")
    st.caption(f"{data['requests']} requests · {quality} · every 0.05, plus the recommendation")
    st.dataframe(
        data["table"],
        hide_index=True,
        width="stretch",
        column_config={
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f"),
            "premium_share": st.column_config.ProgressColumn(
                "premium share", min_value=0.0, max_value=1.0, format="percent"
            ),
            "mean_quality": st.column_config.NumberColumn("mean quality", format="%.3f"),
            "labelled": st.column_config.NumberColumn(
                "labelled", help="requests whose answer at this threshold has a known quality"
            ),
            "total_cost_usd": st.column_config.NumberColumn("run cost", format="$%.6f"),
            "cost_per_media_hour_usd": st.column_config.NumberColumn(
                "cost / media hour", format="$%.4f"
            ),
            "p95_latency_ms": st.column_config.NumberColumn("p95 latency", format="%.0f ms"),
        },
    )
    _grid_view(lab, run_id, target)


def _grid_view(lab: Lab, run_id: str, target: float) -> None:
    """The (vision threshold, LLM threshold) grid of a run with the four combinations of tiers."""
    st.subheader("Vision and LLM thresholds")
    budget = st.number_input(
        "Budget (USD per media hour, 0: none)",
        min_value=0.0,
        value=0.0,
        step=0.001,
        format="%.4f",
        key="lab.grid.budget",
    )
    view = _grid(lab.ledger, run_id, target, float(budget) or None)
    if view.data is None:
        st.caption(view.message)
        return
    data = view.data
    (st.success if data["recommended"] is not None else st.warning)(data["sentence"])
    if data["budget_sentence"]:
        (st.success if data["best_in_budget"] is not None else st.warning)(data["budget_sentence"])
    points = data["points"]
    tooltip = [
        alt.Tooltip("vision_threshold:Q", format=".2f", title="vision threshold"),
        alt.Tooltip("llm_threshold:Q", format=".2f", title="LLM threshold"),
        alt.Tooltip("mean_quality:Q", format=".3f", title="mean quality"),
        alt.Tooltip("cost_usd:Q", format="$.4f", title=data["cost_title"]),
        alt.Tooltip("vision_premium_share:Q", format=".0%", title="premium readings"),
        alt.Tooltip("llm_premium_share:Q", format=".0%", title="premium answers"),
        alt.Tooltip("p95_latency_ms:Q", format=".0f", title="p95 latency (ms)"),
    ]
    heat_col, front_col = st.columns(2)
    heat = (
        alt.Chart(points)
        .mark_rect()
        .encode(
            x=alt.X("llm_threshold:O", title="LLM threshold", axis=alt.Axis(format=".2f")),
            y=alt.Y(
                "vision_threshold:O",
                title="vision threshold",
                sort="descending",
                axis=alt.Axis(format=".2f"),
            ),
            color=alt.Color("mean_quality:Q", title="mean quality"),
            tooltip=tooltip,
        )
    )
    marks = (
        alt.Chart(points)
        .transform_filter(alt.datum.front == "Pareto")
        .mark_point(shape="circle", color="#d62728", filled=False)
        .encode(x="llm_threshold:O", y=alt.Y("vision_threshold:O", sort="descending"))
    )
    st.caption(
        "Pareto pairs below: one per distinct cost and quality (many pairs route alike), with "
        "the highest thresholds."
    )
    with heat_col:
        st.caption(
            f"Mean quality per pair; red rings: the Pareto set · {data['screen_requests']} "
            f"of {data['requests']} requests need the screen"
        )
        st.altair_chart(alt.layer(heat, marks).properties(height=360), width="stretch")
    scatter = (
        alt.Chart(points)
        .mark_circle(size=40)
        .encode(
            x=alt.X("cost_usd:Q", title=data["cost_title"], scale=alt.Scale(zero=False)),
            y=alt.Y("mean_quality:Q", title="mean quality", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "front:N",
                title=None,
                scale=alt.Scale(domain=["Pareto", "dominated"], range=["#d62728", "#c7c7c7"]),
            ),
            tooltip=tooltip,
        )
    )
    layers = [scatter]
    if budget:
        layers.append(alt.Chart().mark_rule(color="#2ca02c").encode(x=alt.datum(float(budget))))
    with front_col:
        st.caption("Every pair's cost against quality" + (" · green: the budget" if budget else ""))
        st.altair_chart(alt.layer(*layers).properties(height=360), width="stretch")
    st.dataframe(
        points[points["distinct"]].drop(
            columns=["front", "cost_usd", "best_in_budget", "distinct"]
        ),
        hide_index=True,
        width="stretch",
    )
