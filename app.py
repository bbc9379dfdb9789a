"""Streamlit entry point: navigation over pages/ and the shared sidebar.

Run with `streamlit run app.py` (the README's first command does it for you).
"""

from __future__ import annotations

import streamlit as st

from assistant.views import (
    ALL_TENANTS,
    default_ledger,
    provider_keys,
    read_tenants,
)

st.set_page_config(page_title="Meeting-assistant workbench", page_icon="🎛️", layout="wide")

if "wb.ledger" not in st.session_state:
    st.session_state["wb.ledger"] = default_ledger()

navigation = st.navigation(
    [
        st.Page("pages/runs.py", title="Runs", icon=":material/video_library:", default=True),
        st.Page("pages/routing_lab.py", title="Routing lab", icon=":material/science:"),
        st.Page("pages/costs.py", title="Costs", icon=":material/payments:"),
        st.Page("pages/label.py", title="Label", icon=":material/label:"),
        st.Page("pages/replay.py", title="Replay", icon=":material/play_circle:"),
        st.Page("pages/live.py", title="Live room", icon=":material/sensors:"),
        st.Page("pages/rooms.py", title="Rooms", icon=":material/meeting_room:"),
        st.Page("pages/fleet.py", title="Fleet", icon=":material/hub:"),
    ]
)

with st.sidebar:
    st.text_input("Ledger file", key="wb.ledger", help="DuckDB file the replays write to")
    tenants = st.cache_data(ttl=10, show_spinner=False)(read_tenants)(st.session_state["wb.ledger"])
    st.selectbox("Tenant", [ALL_TENANTS, *tenants], key="wb.tenant")
    st.caption("Provider keys (set in the environment)")
    for name, present in provider_keys().items():
        st.markdown(f"{'🟢' if present else '⚪'} {name}" + ("" if present else " — offline"))

navigation.run()
