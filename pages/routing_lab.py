"""Routing lab: threshold sweep, A/B, estimates from live traffic, external benchmark. Layout only;
each tab is a module of pages/lab/, listed in ``pages.lab.TABS``.

Tabs are lazy (``on_change="rerun"``): only the open tab queries the ledger or runs the benchmark.
"""

from __future__ import annotations

import streamlit as st

from assistant.views import default_ledger
from pages.lab import TABS
from pages.lab.common import Lab, refresh_after_demo_jobs

st.title("Routing lab")
lab = Lab(
    ledger=st.session_state.get("wb.ledger") or default_ledger(),
    tenant=st.session_state.get("wb.tenant"),
)
refresh_after_demo_jobs(lab)

tabs = st.tabs([t.title for t in TABS], key="lab.tab", on_change="rerun")
for tab, spec in zip(tabs, TABS, strict=True):
    if tab.open:
        with tab:
            spec.render(lab)
