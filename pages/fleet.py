"""Fleet: every session running anywhere, from the ledger or lake the workers write. Layout only."""

from __future__ import annotations

import streamlit as st

from assistant.views.fleet import FLEET_LOST_AFTER_S, FLEET_REFRESH_S, read_fleet

st.title("Fleet")
st.caption(
    "Every run in progress on any worker that writes this ledger (a ducklake:… lake takes many "
    f"machines at once). A worker with no heartbeat for {FLEET_LOST_AFTER_S:.0f} s shows as lost. "
    f"Refreshes every {FLEET_REFRESH_S} s."
)


@st.fragment(run_every=FLEET_REFRESH_S)
def fleet_panel() -> None:
    view = read_fleet(st.session_state["wb.ledger"])
    if view.data is None:
        st.info(view.message)
        return
    st.caption(view.message)
    frame = view.data
    lost, over = int((frame["state"] == "lost").sum()), int(frame["over_budget"].sum())
    columns = st.columns(4)
    columns[0].metric("Sessions", len(frame))
    columns[1].metric("Workers", frame["worker"].nunique())
    columns[2].metric("Lost", lost)
    columns[3].metric("Over budget", over)
    st.dataframe(
        frame,
        hide_index=True,
        key="fleet.table",
        column_config={
            "media_s": st.column_config.NumberColumn("media (s)", format="%.0f"),
            "premium_share": st.column_config.NumberColumn("premium share", format="percent"),
            "cost_usd": st.column_config.NumberColumn("cost so far", format="$%.4f"),
            "cost_per_media_hour_usd": st.column_config.NumberColumn(
                "cost per media hour", format="$%.4f"
            ),
            "budget_usd_per_hour": st.column_config.NumberColumn("budget / h", format="$%.2f"),
            "last_heartbeat_at": st.column_config.DatetimeColumn("last heartbeat"),
            "heartbeat_age_s": st.column_config.NumberColumn("heartbeat age (s)", format="%.0f"),
        },
    )


fleet_panel()
