"""Routing lab, "From live traffic" tab: what another threshold would have cost and answered,
estimated from logged traffic with exploration (inverse propensity weighting). Layout only.

The tab is a list of sections (:data:`SECTIONS`), each a function of the :class:`Lab`: adding one
is a function here and an entry in the list.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import streamlit as st

from assistant.views.lab import ipw_sentence, read_ipw_curve
from assistant.views.live_traffic import (
    live_estimate_sentence,
    read_fleet_check,
    read_live_estimate,
)
from pages.common.cache import cached
from pages.lab.common import Lab, ab_runs, run_label, sweep_runs

TITLE = "From live traffic"

_ipw = cached(read_ipw_curve, ttl_s=30, spinner="Weighting the explored requests…")
_both = cached(read_live_estimate, ttl_s=30, spinner="Weighting both decisions…")
_fleet_check = cached(read_fleet_check, spinner="Simulating a fleet whose outcomes are known…")


def render(lab: Lab) -> None:
    for section in SECTIONS:
        section(lab)


def estimates(lab: Lab) -> None:
    """Another threshold's quality and cost estimated from a run's explored requests (IPW)."""
    view = ab_runs(lab.ledger, lab.tenant)
    if view.data is None:
        st.info(view.message)
        return
    runs = view.data
    labels = {
        r.run_id: f"{run_label(r)} · {r.explored} explored"
        for r in runs.sort_values("explored", ascending=False, kind="stable").itertuples()
    }
    references = sweep_runs(lab.ledger, lab.tenant)
    left, right = st.columns(2)
    run_id = left.selectbox(
        "Logged run", list(labels), format_func=labels.__getitem__, key="lab.live.run"
    )
    reference = None
    if references.data is not None:
        dataset = runs.loc[runs["run_id"] == run_id, "dataset_name"].iloc[0]
        same = references.data[references.data["dataset_name"] == dataset]
        options = [None, *same["run_id"]]
        reference = right.selectbox(
            "Check against a --both-tiers run of the same dataset",
            options,
            index=1 if len(options) > 1 else 0,
            format_func=lambda r: "none" if r is None else r,
            key="lab.live.reference",
        )
    result = _ipw(lab.ledger, run_id, reference)
    if result.data is None:
        st.warning(result.message)
        return
    curve = result.data
    if curve.points is None:
        st.info(curve.message)
        return
    points = curve.points
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Requests", curve.rows)
    m2.metric("Routed at random", curve.explored)
    m3.metric(
        "Logged threshold",
        "n/a" if curve.logged_threshold is None else f"{curve.logged_threshold:.2f}",
    )
    m4.metric(
        "Logged mean quality",
        "n/a" if curve.logged_quality is None else f"{curve.logged_quality:.3f}",
    )
    st.info(ipw_sentence(curve))

    tooltip = [
        alt.Tooltip("threshold:Q", format=".2f"),
        alt.Tooltip("premium_share:Q", format=".0%", title="premium share"),
        alt.Tooltip("quality:Q", format=".3f", title="estimated quality"),
        alt.Tooltip("quality_low:Q", format=".3f", title="95% low"),
        alt.Tooltip("quality_high:Q", format=".3f", title="95% high"),
        alt.Tooltip("effective_n:Q", format=".1f", title="effective n"),
    ]
    has_truth = "true_quality" in points
    quality_col, cost_col = st.columns(2)
    for column, value, low, high, truth, title, fmt in (
        (
            quality_col,
            "quality",
            "quality_low",
            "quality_high",
            "true_quality",
            "mean quality",
            ".2f",
        ),
        (
            cost_col,
            "cost_per_media_hour_usd",
            "cost_per_media_hour_low",
            "cost_per_media_hour_high",
            "true_cost_per_media_hour_usd",
            "cost per media hour (USD)",
            "$.4f",
        ),
    ):
        base = alt.Chart(points).encode(x=alt.X("threshold:Q", title="threshold"))
        band = base.mark_area(opacity=0.25, color="#1f77b4").encode(
            y=alt.Y(f"{low}:Q", title=title, axis=alt.Axis(format=fmt)), y2=f"{high}:Q"
        )
        line = base.mark_line(point=True, color="#1f77b4").encode(y=f"{value}:Q", tooltip=tooltip)
        layers = [band, line]
        if has_truth:
            layers.append(base.mark_line(color="#2ca02c", strokeDash=[5, 3]).encode(y=f"{truth}:Q"))
        if curve.logged_threshold is not None:
            layers.append(
                alt.Chart().mark_rule(color="#999999").encode(x=alt.datum(curve.logged_threshold))
            )
        with column:
            st.subheader("Estimated " + title)
            st.altair_chart(alt.layer(*layers).properties(height=300), width="stretch")
    st.caption(
        "Blue: IPW estimate with its 95% band. "
        + ("Green dashed: the true figure from the --both-tiers run. " if has_truth else "")
        + "Grey rule: the threshold the traffic was logged at."
    )
    st.dataframe(
        points,
        hide_index=True,
        width="stretch",
        column_config={
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f"),
            "premium_share": st.column_config.ProgressColumn(
                "premium share", min_value=0.0, max_value=1.0, format="percent"
            ),
            "quality": st.column_config.NumberColumn("quality (IPW)", format="%.3f"),
            "quality_low": st.column_config.NumberColumn("95% low", format="%.3f"),
            "quality_high": st.column_config.NumberColumn("95% high", format="%.3f"),
            "cost_usd": st.column_config.NumberColumn("cost / request", format="$%.7f"),
            "cost_per_media_hour_usd": st.column_config.NumberColumn(
                "cost / media hour (IPW)", format="$%.4f"
            ),
            "cost_per_media_hour_low": st.column_config.NumberColumn("95% low", format="$%.4f"),
            "cost_per_media_hour_high": st.column_config.NumberColumn("95% high", format="$%.4f"),
            "matched": st.column_config.NumberColumn("matched rows"),
            "effective_n": st.column_config.NumberColumn("effective n", format="%.1f"),
            "true_quality": st.column_config.NumberColumn("true quality", format="%.3f"),
            "true_cost_per_media_hour_usd": st.column_config.NumberColumn(
                "true cost / media hour", format="$%.4f"
            ),
        },
    )


def both_decisions(lab: Lab) -> None:
    """Each (answer threshold, vision threshold) pair estimated from the same logged run: cost
    from every request, quality from the labelled ones, with intervals; and how close such an
    estimate comes to the truth on a simulated fleet."""
    run_id = st.session_state.get("lab.live.run")
    if not run_id:
        return
    st.subheader("Both decisions: answer and vision thresholds")
    view = _both(lab.ledger, run_id)
    if view.data is None:
        st.info(view.message)
    else:
        st.info(live_estimate_sentence(view.data))
        st.dataframe(
            view.data.points,
            hide_index=True,
            width="stretch",
            column_config={
                "threshold": st.column_config.NumberColumn("threshold", format="%.2f"),
                "vision_threshold": st.column_config.NumberColumn("vision", format="%.2f"),
                "premium_share": st.column_config.ProgressColumn(
                    "premium share", min_value=0.0, max_value=1.0, format="percent"
                ),
                "cost_usd": st.column_config.NumberColumn("cost / request", format="$%.7f"),
                "cost_low": st.column_config.NumberColumn("95% low", format="$%.7f"),
                "cost_high": st.column_config.NumberColumn("95% high", format="$%.7f"),
                "quality": st.column_config.NumberColumn("quality", format="%.3f"),
                "quality_low": st.column_config.NumberColumn("95% low", format="%.3f"),
                "quality_high": st.column_config.NumberColumn("95% high", format="%.3f"),
                "effective_n": st.column_config.NumberColumn("effective n", format="%.1f"),
            },
        )
    with st.expander("How close is this? The estimate on a simulated fleet (synthetic)"):
        check = _fleet_check()
        if check.data is None:
            st.warning(check.message)
        else:
            st.caption(
                "Synthetic traffic whose both-tier outcomes are known, logged at threshold 0.5 "
                "with 30% exploration: each other policy's estimate beside its truth."
            )
            st.dataframe(check.data, hide_index=True, width="stretch")


SECTIONS: list[Callable[[Lab], None]] = [estimates, both_decisions]
