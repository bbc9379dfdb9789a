"""Streamlit entry point: navigation over pages/ and the shared sidebar.

Run with `streamlit run app.py` (the README's first command does it for you).
"""

from __future__ import annotations

import streamlit as st

from assistant.views import default_ledger
from assistant.views.workbench import ALL_TENANTS, provider_keys, read_tenants
from pages.common.cache import cached
from pages.common.registry import PAGES

st.set_page_config(page_title="Meeting-assistant workbench", page_icon="🎛️", layout="wide")

if "wb.ledger" not in st.session_state:
    st.session_state["wb.ledger"] = default_ledger()

navigation = st.navigation(
    [st.Page(p.file, title=p.title, icon=p.icon, default=p.default) for p in PAGES]
)

with st.sidebar:
    st.text_input("Ledger file", key="wb.ledger", help="DuckDB file the replays write to")
    tenants = cached(read_tenants, ttl_s=10)(st.session_state["wb.ledger"])
    st.selectbox("Tenant", [ALL_TENANTS, *tenants], key="wb.tenant")
    st.caption("Provider keys (set in the environment)")
    for name, present in provider_keys().items():
        st.markdown(f"{'🟢' if present else '⚪'} {name}" + ("" if present else " — offline"))

navigation.run()
