"""Routing lab: sweep the threshold of a --both-tiers run offline. Layout only."""

from __future__ import annotations

import altair as alt
import streamlit as st

from assistant.cli import default_ledger
from assistant.workbench import read_sweep, read_sweep_runs

st.title("Routing lab")
ledger_path = st.session_state.get("wb.ledger") or default_ledger()
tenant = st.session_state.get("wb.tenant")


@st.cache_data(ttl=5, show_spinner=False)
def _runs(path: str, tenant: str | None):  # type: ignore[no-untyped-def]
    return read_sweep_runs(path, tenant)


@st.cache_data(ttl=5, show_spinner=False)
def _sweep(path: str, run_id: str, target: float):  # type: ignore[no-untyped-def]
    return read_sweep(path, run_id, target)


view = _runs(ledger_path, tenant)
if view.data is None:
    st.info(view.message)
    st.stop()

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
sweep = _sweep(ledger_path, run_id, target)
if sweep.data is None:
    st.warning(sweep.message)
    st.stop()

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
marked = best.mark_point(shape="diamond", size=300, filled=False, color="#2ca02c", strokeWidth=3)
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
    st.altair_chart(alt.layer(curve, dots, marked, label).properties(height=320), width="stretch")
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
        "total_cost_usd": st.column_config.NumberColumn("run cost", format="$%.6f"),
        "cost_per_media_hour_usd": st.column_config.NumberColumn(
            "cost / media hour", format="$%.4f"
        ),
        "p95_latency_ms": st.column_config.NumberColumn("p95 latency", format="%.0f ms"),
    },
)
