"""Rooms: a tenant's LiveKit rooms (create, list, delete) and join tokens. Layout only."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from assistant.views.rooms import (
    TENANT_RULE,
    create_room,
    delete_room,
    list_rooms,
    livekit_settings,
    mint,
)
from assistant.views.workbench import ALL_TENANTS

st.title("Rooms")
status = livekit_settings()
if not status.ok:
    st.info(status.message)
    st.markdown(
        "The same from a terminal, once the variables are set: "
        "`python -m assistant rooms list --tenant acme`, "
        "`python -m assistant rooms create --tenant acme --room standup`, "
        "`python -m assistant token --tenant acme --room standup --identity alice`."
    )
    st.stop()
settings = status.value
st.caption(status.message)

if "rooms.tenant" not in st.session_state:
    sidebar_tenant = st.session_state.get("wb.tenant")
    st.session_state["rooms.tenant"] = (
        "" if sidebar_tenant in (None, ALL_TENANTS) else sidebar_tenant
    )
tenant = st.text_input("Tenant id", key="rooms.tenant", help=TENANT_RULE, placeholder="acme")
if not tenant.strip():
    st.info(f"Type the tenant id whose rooms to manage ({TENANT_RULE}).")
    st.stop()


def _create() -> None:
    st.session_state["rooms.result"] = create_room(
        settings,
        tenant,
        st.session_state["rooms.new_name"],
        metadata_text=st.session_state["rooms.new_metadata"],
        empty_timeout_s=int(st.session_state["rooms.new_timeout"]),
        max_participants=int(st.session_state["rooms.new_max"]),
    )


def _delete() -> None:
    st.session_state["rooms.result"] = delete_room(
        settings, tenant, st.session_state["rooms.delete_name"]
    )
    st.session_state["rooms.delete_confirm"] = False


def _mint() -> None:
    st.session_state["rooms.token"] = mint(
        settings,
        tenant,
        st.session_state["rooms.token_room"],
        identity=st.session_state["rooms.token_identity"],
        name=st.session_state["rooms.token_name"],
        ttl_s=int(st.session_state["rooms.token_ttl"]),
        can_publish=st.session_state["rooms.token_publish"],
        can_subscribe=st.session_state["rooms.token_subscribe"],
        can_publish_data=st.session_state["rooms.token_data"],
    )


result = st.session_state.pop("rooms.result", None)
if result is not None:
    (st.success if result.ok else st.error)(result.message)

listing = list_rooms(settings, tenant)
if not listing.ok:
    st.error(listing.message)
    st.stop()
rooms = listing.value
st.subheader("Rooms")
if rooms:
    st.caption(listing.message)
    st.dataframe(
        pd.DataFrame(rooms),
        hide_index=True,
        width="stretch",
        column_config={
            "created_at": st.column_config.DatetimeColumn(
                "created (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "empty_timeout_s": st.column_config.NumberColumn("empty timeout", format="%d s"),
        },
    )
else:
    st.info(listing.message)

left, right = st.columns(2)
with left, st.form("rooms.create", clear_on_submit=False):
    st.subheader("Create a room")
    st.text_input("Room name", key="rooms.new_name", placeholder="standup", help=TENANT_RULE)
    st.number_input("Max participants", 1, 1000, 10, key="rooms.new_max")
    st.number_input("Empty timeout (s)", 1, 86_400, 300, key="rooms.new_timeout")
    st.text_area(
        "Metadata (JSON object, optional)",
        key="rooms.new_metadata",
        placeholder='{"topic": "standup"}',
    )
    st.form_submit_button("Create room", on_click=_create, key="rooms.create_button")

with right:
    st.subheader("Delete a room")
    if rooms:
        st.selectbox("Room", [r["room"] for r in rooms], key="rooms.delete_name")
        confirm = st.checkbox(
            "Yes, delete it (participants are disconnected)", key="rooms.delete_confirm"
        )
        st.button("Delete room", on_click=_delete, disabled=not confirm, key="rooms.delete_button")
    else:
        st.caption("Nothing to delete.")

st.subheader("Join token")
if not rooms:
    st.caption("Create a room first: tokens are minted for one of the tenant's rooms.")
else:
    with st.form("rooms.token_form"):
        cols = st.columns(4)
        cols[0].selectbox("Room", [r["room"] for r in rooms], key="rooms.token_room")
        cols[1].text_input("Identity", "alice", key="rooms.token_identity")
        cols[2].text_input("Display name (optional)", key="rooms.token_name")
        cols[3].number_input("Lifetime (s)", 60, 86_400, 600, key="rooms.token_ttl")
        grants = st.columns(3)
        grants[0].checkbox("May publish audio/video", True, key="rooms.token_publish")
        grants[1].checkbox("May subscribe", True, key="rooms.token_subscribe")
        grants[2].checkbox("May send data / chat", True, key="rooms.token_data")
        st.form_submit_button("Mint token", on_click=_mint, key="rooms.token_button")
    token = st.session_state.get("rooms.token")
    if token is not None:
        if token.ok:
            st.success(token.message)
            st.code(token.value[0], language=None, wrap_lines=True)
            st.caption(
                f"Join with this token at {settings.url} (e.g. LiveKit Meet's custom server)."
            )
        else:
            st.error(token.message)
