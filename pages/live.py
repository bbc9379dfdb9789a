"""Live room: a running session (a dataset paced in real time, or a LiveKit room). Layout only."""

from __future__ import annotations

import streamlit as st

from assistant.views import (
    WorkbenchError,
    default_ledger,
    job_status,
    list_jobs,
    replay_request,
    start_replays,
    stop_job,
)
from assistant.views.live import (
    STT_CHOICES,
    STT_LABELS,
    Thumbnails,
    calm,
    list_datasets,
    read_live,
    thumbnails,
    usd,
)
from assistant.views.rooms import agent_command, list_participants, list_rooms, livekit_settings
from assistant.views.telemetry import receiver_status, start_receiver, stop_receiver
from assistant.views.workbench import ALL_TENANTS, read_runs
from pages.common.cache import cached

st.title("Live room")
ledger_path = st.session_state.get("wb.ledger") or default_ledger()
tenant = st.session_state.get("wb.tenant")


_runs = cached(read_runs, ttl_s=5)


def _decode(source_ref: str, times: tuple[float, ...]) -> Thumbnails:
    return thumbnails(source_ref, list(times), width=360)


_thumbnails = cached(_decode, ttl_s=3600, max_entries=64)


def _start_paced() -> None:
    state = st.session_state
    try:
        request = replay_request(
            dataset=state["live.dataset"],
            ledger=ledger_path,
            thresholds=state["live.threshold"],
            stt=state["live.stt"],
            paced=float(state["live.speed"]),
        )
        job = start_replays(request)
    except (WorkbenchError, ValueError, OSError) as exc:
        state["live.start_error"] = str(exc)
        return
    state["live.start_error"] = None
    state["live.job"] = job.job_id


def _start_receiver() -> None:
    state = st.session_state
    try:
        start_receiver(
            ledger_path,
            port=int(state["live.otel_port"]),
            token=state["live.otel_token"] or None,
            tenant=state["live.otel_tenant"] or "otel",
        )
        state["live.otel_error"] = None
    except (WorkbenchError, ValueError, OSError) as exc:
        state["live.otel_error"] = str(exc)


def _otel_receiver() -> None:
    """Start or stop the OTLP receiver for a LiveKit Agents app of your own (a background process)."""
    with st.expander("Your own LiveKit Agents app: receive its OpenTelemetry traces"):
        current = receiver_status()
        status = current["status"]
        if current["running"]:
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.markdown(
                f"Receiving on `{status.get('address', '…')}` (pid {current['pid']}): point "
                "`OTEL_EXPORTER_OTLP_ENDPOINT` at it (README: LiveKit Agents)."
            )
            right.button("Stop", key="live.otel_stop", on_click=stop_receiver)
        else:
            cols = st.columns([1, 2, 2, 1], vertical_alignment="bottom")
            cols[0].number_input("Port", 1024, 65535, 4318, key="live.otel_port")
            cols[1].text_input("Bearer token (optional)", "", type="password", key="live.otel_token")
            cols[2].text_input("Tenant of the runs", "otel", key="live.otel_tenant")
            cols[3].button("Start", key="live.otel_start", on_click=_start_receiver)
            st.caption("Binds 127.0.0.1 only; `python -m assistant otel-receive --host` for more.")
        if st.session_state.get("live.otel_error"):
            st.error(st.session_state["live.otel_error"])
        if status:
            unknown = sum(status.get("unknown_spans", {}).values())
            st.caption(
                f"{status.get('accepted_spans', 0)} spans accepted, "
                f"{status.get('written_spans', 0)} written: {len(status.get('runs', []))} runs, "
                f"{status.get('requests', 0)} requests, {status.get('calls', 0)} calls; "
                f"{unknown} unknown spans, {status.get('malformed_bodies', 0)} bad bodies, "
                f"{status.get('unauthorized', 0)} refused (token)"
            )
        elif current["log"] and not current["running"]:
            st.code(current["log"][-600:])


mode = st.radio("Session", ["Paced dataset", "LiveKit room"], horizontal=True, key="live.mode")

if mode == "LiveKit room":
    status = livekit_settings()
    if not status.ok:
        st.info(status.message)
    else:
        st.caption(status.message)
        command = agent_command()
        if command:
            st.markdown(f"Start the live agent that joins the tenant's rooms: `{command}`")
        else:
            st.caption(
                "The live agent (`python -m assistant.agent dev`) is not in this checkout yet: "
                "below are the tenant's rooms; a paced dataset shows the panels meanwhile."
            )
        sidebar_tenant = "" if tenant in (None, ALL_TENANTS) else tenant
        room_tenant = st.text_input("Tenant id", sidebar_tenant, key="live.tenant")
        if room_tenant.strip():
            listing = list_rooms(status.value, room_tenant)
            if not listing.ok:
                st.error(listing.message)
            elif listing.value:
                st.dataframe(
                    listing.value,
                    hide_index=True,
                    width="stretch",
                    column_order=["room", "participants", "max_participants", "created_at"],
                )
                chosen = st.selectbox(
                    "Participants and tracks of",
                    [r["room"] for r in listing.value],
                    key="live.room",
                )
                people = list_participants(status.value, room_tenant, chosen)
                if not people.ok:
                    st.error(people.message)
                elif people.value:
                    st.dataframe(people.value, hide_index=True, width="stretch")
                else:
                    st.info(people.message)
            else:
                st.info(listing.message)
        else:
            st.info("Type a tenant id to list its rooms (the Rooms page creates them).")
    _otel_receiver()
else:
    datasets = list_datasets()
    with st.form("live.form", border=False):
        cols = st.columns([3, 2, 2, 1])
        cols[0].selectbox(
            "Dataset",
            [d.path for d in datasets],
            format_func=lambda p: next((d.label for d in datasets if d.path == p), p),
            key="live.dataset",
        )
        cols[1].select_slider(
            "Speed", [1.0, 2.0, 4.0, 8.0], 1.0, format_func=lambda s: f"{s:g}x", key="live.speed"
        )
        cols[2].selectbox(
            "Transcription",
            list(STT_CHOICES),
            format_func=lambda s: STT_LABELS.get(s, s),
            key="live.stt",
        )
        cols[3].text_input("Threshold", "0.3", key="live.threshold")
        st.form_submit_button(
            "Start paced replay", type="primary", on_click=_start_paced, key="live.start"
        )
    if st.session_state.get("live.start_error"):
        st.error(st.session_state["live.start_error"])

# -- the session to follow -----------------------------------------------------------------------
paced_jobs = [j for j in list_jobs(ledger=ledger_path) if j.paced is not None]
chosen = st.session_state.get("live.job")
job = next((j for j in paced_jobs if j.job_id == chosen), paced_jobs[0] if paced_jobs else None)
job_state = job_status(job) if job is not None else None
run_id: str | None = None
if job is not None and job_state is not None and not job_state.done:
    run_id = job.steps[0].run_id
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.markdown(f"Following the paced replay **{run_id}** ({job.paced:g}x)")
    right.button("Stop", key="live.stop", on_click=stop_job, args=(job,))
else:
    runs = calm(_runs(ledger_path, tenant))
    if runs.data is None:
        st.info(
            f"{runs.message} Or start a paced replay above: it plays a recorded meeting in real "
            "time, as a live room would."
        )
        st.stop()
    run_id = st.selectbox("Run", runs.data["run_id"].tolist(), key="live.run")


@st.fragment(run_every=2)
def _panels(run_id: str) -> None:
    state = job_status(job) if job is not None and run_id in job.run_ids else None
    media_s = None
    if state is not None:
        step = state.steps[0]
        media_s = step.media_s if step.status != "pending" else None
        st.progress(step.fraction, text=state.text)
    view = calm(read_live(ledger_path, run_id, media_s=media_s))
    if view.data is None:
        st.info(view.message)
        return
    data = view.data
    totals = data["totals"]
    cols = st.columns(5)
    cols[0].metric("Status", totals["status"])
    cols[1].metric("Media", f"{totals['media_s'] or 0:.0f} s")
    cols[2].metric("Questions", totals["requests"])
    cols[3].metric("Cost so far", usd(totals["cost_usd"]))
    per_hour = totals["cost_per_hour_usd"]
    cols[4].metric(
        "Cost per hour",
        usd(per_hour),
        help="cost so far / media seconds so far x 3600",
    )

    st.markdown("**Latest kept frames**")
    frames = data["frames"]
    if frames.empty:
        st.caption("No frame kept yet.")
    else:
        thumbs = _thumbnails(totals["source_ref"], tuple(float(t) for t in frames["media_t_s"]))
        grid = st.columns(4)
        for i, frame in enumerate(frames.itertuples()):
            image = thumbs.images.get(float(frame.media_t_s))
            caption = f"{frame.media_t_s:.1f} s · {frame.reason}"
            with grid[i % 4]:
                if image is not None:
                    st.image(image, caption=caption, width="stretch")
                else:
                    st.caption(caption)

    left, right = st.columns(2)
    with left:
        st.markdown("**Transcript**")
        if data["utterances"].empty:
            st.caption("Nobody has spoken yet.")
        for u in data["utterances"].itertuples():
            st.markdown(f"`{u.start_s:6.1f} s` **{u.participant}**: {u.text}")
    with right:
        st.markdown("**Questions and answers**")
        if data["questions"].empty:
            st.caption("No question asked yet.")
        for q in data["questions"].iloc[::-1].itertuples():
            with st.container(border=True):
                st.markdown(
                    f"`{q.media_t_s:.1f} s` **{q.asker}**: {q.question}  \n"
                    f"→ **{q.tier}** · score {q.score:.2f} vs threshold "
                    f"{'—' if q.threshold is None or q.threshold != q.threshold else f'{q.threshold:.2f}'} "
                    f"(`{q.router}`) · `{q.llm_model_resolved}` · {q.total_latency_ms:.0f} ms · "
                    f"{usd(q.total_cost_usd)} · {q.status}"
                )
                st.caption(q.answer or "(no answer)")


if run_id is not None:
    _panels(run_id)
