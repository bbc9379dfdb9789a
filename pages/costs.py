"""Costs: cost per media hour over time, and where the money goes. Layout only."""

from __future__ import annotations

import altair as alt
import streamlit as st

from assistant.views import default_ledger, format_usd
from assistant.views.projection import read_projected_costs
from assistant.views.telemetry import read_participant_spend
from assistant.views.workbench import ALL_TENANTS, export_calls, read_costs
from pages.common.cache import cached

st.title("Costs")
ledger_path = st.session_state.get("wb.ledger") or default_ledger()
tenant = st.session_state.get("wb.tenant") or ALL_TENANTS


_costs = cached(read_costs, ttl_s=5)
_projected = cached(read_projected_costs, ttl_s=5)


view = _costs(ledger_path, tenant)
if view.data is None:
    st.info(view.message)
    st.stop()

data = view.data
runs = data["runs"]
per_hour = runs["cost_per_media_hour_usd"].dropna()
cols = st.columns(4)
cols[0].metric("Runs", len(runs))
cols[1].metric("Calls", data["calls"])
cols[2].metric("Total cost", format_usd(data["total_cost_usd"]))
cols[3].metric("Mean cost / media hour", format_usd(per_hour.mean()) if not per_hour.empty else "n/a")

st.subheader("Cost per media hour by run")
st.altair_chart(
    alt.Chart(runs.dropna(subset=["cost_per_media_hour_usd"]))
    .mark_line(point=True)
    .encode(
        x=alt.X("started_at:T", title="started"),
        y=alt.Y("cost_per_media_hour_usd:Q", title="USD per media hour"),
        color=alt.Color("tenant:N", title="tenant"),
        tooltip=[
            "run_id",
            "tenant",
            "dataset_name",
            alt.Tooltip("cost_per_media_hour_usd:Q", format="$.4f", title="USD / media hour"),
            alt.Tooltip("total_cost_usd:Q", format="$.6f", title="run cost"),
        ],
    )
    .properties(height=260),
    width="stretch",
)

left, right = st.columns(2)
with left:
    st.subheader("By stage")
    st.bar_chart(data["by_stage"], x="stage", y="cost_usd", height=240)
with right:
    st.subheader("By model")
    st.bar_chart(data["by_model"], x="model", y="cost_usd", height=240, horizontal=True)

st.subheader("Where the money goes")
st.dataframe(
    data["where"],
    hide_index=True,
    width="stretch",
    column_config={
        "cost_usd": st.column_config.NumberColumn("cost", format="$%.6f"),
        "share": st.column_config.ProgressColumn(
            "share", min_value=0.0, max_value=1.0, format="percent"
        ),
    },
)

st.subheader("On cloud models: projected beside measured")
projected = _projected(ledger_path, tenant)
if projected.data is None:
    st.info(projected.message)
else:
    found = projected.data
    scenario = st.selectbox("Price scenario", found["scenarios"], key="costs.scenario")
    st.caption(
        "Projected: what each run's traffic (transcription, and the tier each request was routed "
        "to) would cost on the scenario's cloud models, from the prompts the cloud adapters would "
        "send; never added to what was measured. Token method says which counts are exact."
    )
    side_by_side = {
        "measured_usd_per_hour": st.column_config.NumberColumn(
            "measured / media hour", format="$%.4f"
        ),
        "projected_usd_per_hour": st.column_config.NumberColumn(
            "projected / media hour", format="$%.4f"
        ),
    }
    for table, key in (("per_run", "costs.projected.runs"), ("by_stage", "costs.projected.stages")):
        rows = found[table][found[table]["scenario"] == scenario]
        st.dataframe(
            rows.drop(columns=["scenario"]),
            hide_index=True,
            width="stretch",
            column_config=side_by_side,
            key=key,
        )
    models = found["by_model"][found["by_model"]["scenario"] == scenario]
    st.dataframe(
        models.drop(columns=["scenario"]),
        hide_index=True,
        width="stretch",
        column_config={
            "projected_usd_per_hour": st.column_config.NumberColumn(
                "projected / media hour (mean over runs)", format="$%.4f"
            ),
        },
        key="costs.projected.models",
    )

scope = "all-tenants" if tenant == ALL_TENANTS else tenant
stem = "calls-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in scope)
down_csv, down_parquet = st.columns(2)
down_csv.download_button(  # the calls are read only when a button is clicked
    "Calls as CSV",
    lambda: export_calls(ledger_path, tenant, "csv"),
    file_name=f"{stem}.csv",
    mime="text/csv",
    key="costs.csv",
)
down_parquet.download_button(
    "Calls as Parquet",
    lambda: export_calls(ledger_path, tenant, "parquet"),
    file_name=f"{stem}.parquet",
    mime="application/vnd.apache.parquet",
    key="costs.parquet",
)

# -- spend per participant ------------------------------------------------------------------------


_participants = cached(read_participant_spend, ttl_s=5)


st.subheader("Spend per participant")
spend = _participants(ledger_path, tenant)
if spend.data is None:
    st.info(spend.message)
else:
    by_tenant, by_person = st.columns([1, 2])
    money = st.column_config.NumberColumn("cost", format="$%.6f")
    by_tenant.dataframe(
        spend.data["tenants"], hide_index=True, width="stretch", column_config={"cost_usd": money}
    )
    by_person.dataframe(
        spend.data["participants"],
        hide_index=True,
        width="stretch",
        column_config={
            "cost_usd": money,
            "share": st.column_config.ProgressColumn(
                "share of tenant", min_value=0.0, max_value=1.0, format="percent"
            ),
        },
    )
    st.caption(
        "Who asked: the calls each participant's questions made. Transcription of the room is "
        "not tied to a question and has a row of its own; the exports carry a participant column."
    )

