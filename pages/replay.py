"""Replay: start replays in the background, follow them, and browse a run. Layout only."""

from __future__ import annotations

import altair as alt
import streamlit as st

from assistant.views import (
    Config,
    WorkbenchError,
    default_ledger,
    job_status,
    list_jobs,
    replay_request,
    start_replays,
    stop_job,
)
from assistant.views.live import (
    SAMPLER_POLICIES,
    STT_CHOICES,
    STT_LABELS,
    Thumbnails,
    calm,
    frames_between,
    list_datasets,
    read_run_detail,
    thumbnails,
    timeline,
    usd,
)
from assistant.views.workbench import key_hint, read_runs
from pages.common.cache import cached

st.title("Replay")
ledger_path = st.session_state.get("wb.ledger") or default_ledger()
tenant = st.session_state.get("wb.tenant")
defaults = Config()
OTHER = "Another folder…"


_runs = cached(read_runs, ttl_s=5)
_detail = cached(read_run_detail, ttl_s=5)


def _decode(source_ref: str, times: tuple[float, ...]) -> Thumbnails:
    return thumbnails(source_ref, list(times))


_thumbnails = cached(_decode, ttl_s=3600, max_entries=64, spinner="Decoding thumbnails…")


def _start() -> None:
    state = st.session_state
    choice = state["replay.dataset"]
    dataset = state.get("replay.dataset_path", "") if choice == OTHER else choice
    try:
        request = replay_request(
            dataset=dataset,
            ledger=ledger_path,
            thresholds=state["replay.thresholds"],
            stt=state["replay.stt"],
            policy=state["replay.policy"],
            explore_share=state["replay.explore"],
            vision=(state["replay.vision_cheap"], state["replay.vision_premium"]),
            llm=(state["replay.llm_cheap"], state["replay.llm_premium"]),
            both_tiers=state["replay.both_tiers"],
            run_prefix=state["replay.run_prefix"],
        )
        job = start_replays(request)
    except (WorkbenchError, ValueError, OSError) as exc:
        state["replay.start_error"] = str(exc)
        return
    state["replay.start_error"] = None
    state["replay.watch"] = job.job_id


# -- start -------------------------------------------------------------------------------------
datasets = list_datasets()
with st.expander("Start a replay", expanded=True):
    with st.form("replay.form", border=False):
        left, mid, right = st.columns(3)
        left.selectbox(
            "Dataset",
            [d.path for d in datasets] + [OTHER],
            format_func=lambda p: next((d.label for d in datasets if d.path == p), p),
            key="replay.dataset",
        )
        left.text_input(
            "Dataset folder (for “Another folder…”)",
            key="replay.dataset_path",
            placeholder="/path/to/session (holds manifest.toml)",
        )
        mid.selectbox(
            "Transcription",
            list(STT_CHOICES),
            format_func=lambda s: STT_LABELS.get(s, s),
            key="replay.stt",
            help="recorded: the dataset's ground-truth transcript, for routing experiments in "
            "seconds; whisper: real offline recognition (about 8x real time); Deepgram needs "
            f"{key_hint('deepgram')} (offline fallback otherwise)",
        )
        mid.selectbox("Frame sampler", list(SAMPLER_POLICIES), key="replay.policy")
        right.text_input(
            "Threshold(s)",
            str(defaults.routing.threshold),
            key="replay.thresholds",
            help="premium when score ≥ threshold; several (e.g. 0.1, 0.3, 0.5) = several runs, "
            "one after another",
        )
        right.slider(
            "Exploration share",
            0.0,
            1.0,
            defaults.routing.explore_share,
            0.05,
            key="replay.explore",
            help="share of requests routed to a random tier (propensity logged)",
        )
        with st.expander("Providers and run id"):
            cols = st.columns(2)
            cols[0].text_input("Vision, cheap", defaults.vision.cheap, key="replay.vision_cheap")
            cols[1].text_input(
                "Vision, premium", defaults.vision.premium, key="replay.vision_premium"
            )
            cols[0].text_input("LLM, cheap", defaults.llm.cheap, key="replay.llm_cheap")
            cols[1].text_input("LLM, premium", defaults.llm.premium, key="replay.llm_premium")
            st.caption(
                "`provider:model`, e.g. `openai:gpt-4o-mini`, `anthropic:claude-sonnet-4-6`, "
                "`google:gemini-2.5-flash`; without the key, the offline tier is used (noted)."
            )
            st.text_input(
                "Run id (optional)",
                key="replay.run_prefix",
                placeholder="default: dataset and time; -t0.30 is added per threshold",
            )
        st.checkbox(
            "Both tiers (answer every question with both, for the Routing lab's sweep)",
            key="replay.both_tiers",
        )
        st.form_submit_button("Start replay", type="primary", on_click=_start, key="replay.start")
    error = st.session_state.get("replay.start_error")
    if error:
        st.error(error)


# -- jobs --------------------------------------------------------------------------------------
done_jobs = {j.job_id for j in list_jobs(ledger=ledger_path) if job_status(j).done}
if done_jobs - st.session_state.get("replay.done_jobs", set()):  # new runs in the ledger
    _runs.clear()
    _detail.clear()
st.session_state["replay.done_jobs"] = done_jobs
running = any(j.job_id not in done_jobs for j in list_jobs(ledger=ledger_path)[:5])


@st.fragment(run_every=1 if running else None)
def _jobs_panel() -> None:
    current = list_jobs(ledger=ledger_path)[:5]
    if not current:
        st.caption(
            "No replay started from this page for this ledger yet: pick a dataset above and "
            "press Start replay. Replays run in the background; you can leave this page."
        )
        return
    active = False
    for job in current:
        status = job_status(job)
        active = active or not status.done
        with st.container(border=True):
            text, button = st.columns([5, 1], vertical_alignment="center")
            text.markdown(f"**{job.label}** · {len(job.steps)} run(s) · started {job.created_at}")
            text.progress(status.fraction, text=status.text)
            if not status.done:
                button.button(
                    "Stop", key=f"replay.stop.{job.job_id}", on_click=stop_job, args=(job,)
                )
            elif status.state == "failed":
                text.caption(f"Log: {job.steps[status.current].log_file}")
    if running and not active:  # the last one just ended: refresh the run list below
        st.rerun()


st.subheader("Replays")
_jobs_panel()

# -- browse ------------------------------------------------------------------------------------
st.subheader("Browse a run")
view = calm(_runs(ledger_path, tenant))
if view.data is None:
    st.info(view.message)
    st.stop()
runs = view.data
run_id = st.selectbox(
    "Run",
    runs["run_id"].tolist(),
    format_func=lambda r: f"{r} ({runs.set_index('run_id').loc[r, 'status']})",
    key="replay.run",
)
detail = _detail(ledger_path, run_id)
if detail.data is None:
    st.info(detail.message)
    st.stop()
data = detail.data
summary = data["summary"]
cols = st.columns(6)
cols[0].metric("Status", summary.status)
cols[1].metric("Questions", summary.requests)
cols[2].metric(
    "Premium share",
    f"{summary.premium_share:.0%}" if summary.premium_share is not None else "n/a",
)
cols[3].metric(
    "Cost / media hour",
    usd(summary.cost_per_media_hour_usd),
)
cols[4].metric("Kept frames", summary.frames_kept)
cols[5].metric("Utterances", summary.utterances)

frames, utterances, requests = data["frames"], data["utterances"], data["requests"]
events = timeline(frames, utterances, requests)
if not events.empty:
    base = alt.Chart(events).encode(
        x=alt.X("start_s:Q", title="media time (s)"),
        y=alt.Y("lane:N", title=None, sort=["screen", "questions"]),
        tooltip=["kind", "lane", "start_s", "label"],
    )
    chart = alt.layer(
        base.transform_filter(alt.datum.kind == "speech")
        .mark_bar(height=10, opacity=0.6)
        .encode(x2="end_s:Q", color=alt.value("#7f7f7f")),
        base.transform_filter(alt.datum.kind == "kept frame")
        .mark_tick(thickness=2)
        .encode(color=alt.Color("detail:N", title="frame reason / tier")),
        base.transform_filter(alt.datum.kind == "question")
        .mark_point(filled=True, size=90)
        .encode(color=alt.Color("detail:N"), shape=alt.value("diamond")),
    ).properties(height=60 + 24 * events["lane"].nunique())
    st.altair_chart(chart, width="stretch")

st.markdown("**Kept frames**")
if frames.empty:
    st.caption("This run kept no frames.")
else:
    end_s = float(max(frames["media_t_s"].max(), summary.media_duration_s or 0.0))
    window = st.slider(
        "Media window (s)",
        0.0,
        end_s,
        (0.0, min(end_s, 60.0)),
        step=1.0,
        key="replay.window",
    )
    shown = frames_between(frames, window[0], window[1], limit=12)
    st.caption(
        f"{len(shown)} of the {int(((frames['media_t_s'] >= window[0]) & (frames['media_t_s'] <= window[1])).sum())} "
        f"frames kept in {window[0]:.0f}–{window[1]:.0f} s, decoded from {data['source_ref']}"
    )
    thumbs = _thumbnails(data["source_ref"], tuple(float(t) for t in shown["media_t_s"]))
    if thumbs.message:
        st.caption(thumbs.message)
    grid = st.columns(4)
    for i, frame in enumerate(shown.itertuples()):
        image = thumbs.images.get(float(frame.media_t_s))
        caption = f"{frame.media_t_s:.1f} s · {frame.reason}"
        with grid[i % 4]:
            if image is not None:
                st.image(image, caption=caption, width="stretch")
            else:
                st.caption(caption)

st.markdown("**Questions: route, models, latency, cost, answer**")
questions = data["questions"]
if questions.empty:
    st.caption("No questions in this run.")
else:
    st.dataframe(
        questions,
        hide_index=True,
        width="stretch",
        height=320,
        column_config={
            "media_t_s": st.column_config.NumberColumn("at", format="%.1f s"),
            "question": st.column_config.TextColumn("question", width="large"),
            "score": st.column_config.NumberColumn("score", format="%.2f"),
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f"),
            "total_latency_ms": st.column_config.NumberColumn("latency", format="%.0f ms"),
            "total_cost_usd": st.column_config.NumberColumn("cost", format="$%.7f"),
            "quality": st.column_config.NumberColumn("quality", format="%.2f"),
            "answer": st.column_config.TextColumn("answer", width="large"),
            "reference_answer": st.column_config.TextColumn("reference", width="medium"),
        },
    )

if not requests.empty:
    pick = st.selectbox(
        "Question detail",
        list(range(len(requests))),
        format_func=lambda i: f"{requests['media_t_s'][i]:.1f} s — {requests['question'][i]}",
        key="replay.question",
    )
    q = requests.iloc[pick]
    st.markdown(
        f"Routed **{q['tier']}** by `{q['router']}` (score {q['score']:.2f} vs threshold "
        f"{q['threshold'] if q['threshold'] is not None else 'n/a'}"
        f"{', explored' if q['explored'] else ''}) · LLM `{q['llm_model_resolved']}` · vision "
        f"`{q['vision_model_resolved'] or 'none'}` · {q['total_latency_ms']:.0f} ms · "
        f"{usd(q['total_cost_usd'])} · {q['status']}"
    )
    answer, reference = st.columns(2)
    answer.markdown("**Answer**")
    answer.write(q["answer"] or "(no answer)")
    reference.markdown("**Reference**")
    reference.write(q["reference_answer"] or "(none in the dataset)")

st.markdown("**Transcript**")
if utterances.empty:
    st.caption("No utterances in this run.")
else:
    st.dataframe(
        utterances[["start_s", "end_s", "participant", "text"]],
        hide_index=True,
        width="stretch",
        height=320,
        column_config={
            "start_s": st.column_config.NumberColumn("start", format="%.1f s"),
            "end_s": st.column_config.NumberColumn("end", format="%.1f s"),
            "text": st.column_config.TextColumn("text", width="large"),
        },
    )

with st.expander("Run configuration"):
    st.json(data["config"], expanded=False)
