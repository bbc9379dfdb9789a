"""Routing lab, "External benchmark" tab: every router on RouteLLM's per-prompt results (APGR,
CPT), in-suite and held out across suites. Needs no ledger. Layout only."""

from __future__ import annotations

import altair as alt
import streamlit as st

from assistant.views.lab import (
    benchmark_baselines,
    benchmark_chart_routers,
    read_benchmark,
    read_cross_suite,
)
from pages.common.cache import cached
from pages.lab.common import Lab

TITLE = "External benchmark"

# scorers take these colours in their registry's order; random grey, the oracle green
SCORER_COLORS = ("#ff7f0e", "#1f77b4", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#17becf")
BASELINE_COLORS = ("#7f7f7f", "#2ca02c")

_benchmark = cached(
    read_benchmark, spinner="Running every router on RouteLLM's per-prompt results…"
)
_cross_suite = cached(
    read_cross_suite, spinner="Fitting the routers on one suite, scoring them on the other…"
)


def _router_colors() -> alt.Scale:
    routers = benchmark_chart_routers()
    n_scorers = len(routers) - len(BASELINE_COLORS)
    colors = [SCORER_COLORS[i % len(SCORER_COLORS)] for i in range(n_scorers)]
    return alt.Scale(domain=list(routers), range=[*colors, *BASELINE_COLORS])


def render(lab: Lab) -> None:
    st.caption(
        "RouteLLM's per-prompt results (GPT-4 vs Mixtral; Apache-2.0): each router ranks the "
        "prompts, the top share goes to the strong model. Random routing recovers half the gap "
        "(APGR 0.5); the oracle knows each prompt's true gain."
    )
    view = _benchmark()
    if view.data is None:
        st.info(view.message)
        return
    bench = view.data
    colors = _router_colors()
    columns = st.columns(len(bench.suites))
    for column, suite in zip(columns, bench.suites, strict=True):
        curves = bench.curves[bench.curves["suite"] == suite]
        rows = bench.table[bench.table["suite"] == suite]
        apgr = dict(zip(rows["router"], rows["apgr"], strict=True))
        chart = (
            alt.Chart(curves)
            .mark_line()
            .encode(
                x=alt.X(
                    "premium_share:Q",
                    title="share sent to the strong model",
                    axis=alt.Axis(format="%"),
                ),
                y=alt.Y("quality:Q", title="mean quality", scale=alt.Scale(zero=False)),
                color=alt.Color("router:N", scale=colors, title="router"),
                strokeDash=alt.condition(
                    alt.FieldOneOfPredicate("router", list(benchmark_baselines())),
                    alt.value([5, 3]),
                    alt.value([1, 0]),
                ),
                tooltip=[
                    "router:N",
                    alt.Tooltip("premium_share:Q", format=".0%", title="strong share"),
                    alt.Tooltip("quality:Q", format=".3f"),
                ],
            )
            .properties(height=320)
        )
        with column:
            st.subheader(f"{suite} · {rows['items'].iloc[0]} prompts")
            st.altair_chart(chart, width="stretch")
            st.caption(" · ".join(f"{name} APGR {value:.3f}" for name, value in apgr.items()))
    metric_columns = {
        "apgr": st.column_config.NumberColumn("APGR", format="%.3f"),
        "apgr_sd": st.column_config.NumberColumn(
            "APGR sd", format="%.3f", help="random: sd over the seeded draws"
        ),
        "cpt50": st.column_config.NumberColumn("CPT(50%)", format="%.3f"),
        "cpt80": st.column_config.NumberColumn("CPT(80%)", format="%.3f"),
        "weak_mean": st.column_config.NumberColumn("weak mean", format="%.3f"),
        "strong_mean": st.column_config.NumberColumn("strong mean", format="%.3f"),
        "trained_on": st.column_config.TextColumn(
            "fitted on", help="learned and text: the suites they were trained on"
        ),
        "in_sample": st.column_config.CheckboxColumn(
            "in-sample", help="heuristic: its hand weights were chosen with this suite in view"
        ),
    }
    in_suite, cross = st.columns(2)
    with in_suite:
        st.subheader("In-suite")
        st.caption("Each suite on its own; learned and text held out by 5-fold CV inside it.")
        st.dataframe(
            bench.table.drop(columns=["weak_mean", "strong_mean"]),
            hide_index=True,
            width="stretch",
            column_config=metric_columns,
        )
    with cross:
        st.subheader("Cross-suite")
        st.caption(
            "Each suite held out in turn: learned and text fitted on the other suites only, as "
            "a new user's data would meet them."
        )
        held_out = _cross_suite()
        if held_out.data is None:
            st.info(held_out.message)
        else:
            st.dataframe(
                held_out.data, hide_index=True, width="stretch", column_config=metric_columns
            )
    st.caption(
        "APGR: area under the quality curve as a share of the weak→strong gap. CPT(x): the "
        "smallest strong share recovering x of the gap. The heuristic's hand weights were chosen "
        "with gsm8k and mtbench in view, so its figures there are in-sample in both tables. Also "
        "on the command line: `python -m assistant eval-routing datasets/routellm/*.csv`."
    )
