"""Runs: every replay in the ledger, and one run's requests. Layout only."""

from __future__ import annotations

import streamlit as st

from assistant.views import default_ledger, format_usd
from assistant.views.screens import NO_POSITIONS, read_screen_readings
from assistant.views.workbench import read_rejected, read_run, read_runs
from pages.common.cache import cached

st.title("Runs")
ledger_path = st.session_state.get("wb.ledger") or default_ledger()
tenant = st.session_state.get("wb.tenant")


_runs = cached(read_runs, ttl_s=5)
_run = cached(read_run, ttl_s=5)
_screens = cached(read_screen_readings, ttl_s=5)


rejected = read_rejected(ledger_path)
if rejected.data:
    st.warning(rejected.message)
    st.dataframe(rejected.data, hide_index=True, width="stretch")

view = _runs(ledger_path, tenant)
if view.data is None:
    st.info(view.message)
    st.stop()

runs = view.data
first = [
    "run_id",
    "status",
    "dataset_name",
    "threshold",
    "requests",
    "premium_share",
    "cost_per_media_hour_usd",
    "p95_latency_ms",
    "mean_quality",
    "labelled",
    "abstained",
    "errors",
]
st.dataframe(
    runs[first + [c for c in runs.columns if c not in first]],
    hide_index=True,
    width="stretch",
    column_config={
        "premium_share": st.column_config.ProgressColumn(
            "premium share", min_value=0.0, max_value=1.0, format="percent"
        ),
        "total_cost_usd": st.column_config.NumberColumn(
            "paid now", format="$%.6f", help="what the run's calls cost (cached calls: nothing)"
        ),
        "cost_if_paid_usd": st.column_config.NumberColumn(
            "cost if paid now",
            format="$%.6f",
            help="with the calls answered from the call cache paid at today's prices",
        ),
        "cached_calls": st.column_config.NumberColumn(
            "cached calls", help="calls answered from the ledger's call cache: none made"
        ),
        "cost_per_media_hour_usd": st.column_config.NumberColumn(
            "cost / media hour", format="$%.4f"
        ),
        "mean_quality": st.column_config.NumberColumn(
            "mean quality", format="%.3f", help="over the labelled requests only"
        ),
        "labelled": st.column_config.NumberColumn(
            "labelled", help="requests whose quality is known (reference, key facts or a grade)"
        ),
        "abstained": st.column_config.NumberColumn(
            "abstained", help="requests whose answer declined (could not find it): not 'ok'"
        ),
        "p95_latency_ms": st.column_config.NumberColumn("p95 latency", format="%.0f ms"),
        "p50_latency_ms": st.column_config.NumberColumn("p50 latency", format="%.0f ms"),
    },
)

run_id = st.selectbox("Run", runs["run_id"].tolist(), key="runs.selected")
detail = _run(ledger_path, run_id)
if detail.data is None:
    st.warning(detail.message)
    st.stop()

summary = detail.data["summary"]
cols = st.columns(5)
cols[0].metric(
    "Requests",
    summary.requests,
    help=f"cheap {summary.cheap_requests}, premium {summary.premium_requests}",
)
cols[1].metric(
    "Premium share", f"{summary.premium_share:.0%}" if summary.premium_share is not None else "n/a"
)
cols[2].metric(
    "Cost / media hour",
    format_usd(summary.cost_per_media_hour_usd),
)
cols[3].metric(
    "p95 latency",
    f"{summary.p95_latency_ms:.0f} ms" if summary.p95_latency_ms is not None else "n/a",
)
cols[4].metric(
    "Mean quality",
    f"{summary.mean_quality:.2f}" if summary.mean_quality is not None else "n/a",
    help="over the labelled requests; unknown quality is never counted as 0",
)
cols[4].caption(f"{summary.labelled} of {summary.requests} labelled")
if summary.abstained:
    answered = summary.answered_quality
    declined = summary.abstained_quality
    st.caption(
        f"{summary.abstained} of {summary.requests} requests abstained (the answer declined); "
        "mean quality answered "
        + (f"{answered:.2f}" if answered is not None else "n/a")
        + ", abstained "
        + (f"{declined:.2f}" if declined is not None else "n/a")
    )
judge = detail.data["judge"]
if judge is None:
    st.caption(
        "Quality is a person's grade (Label page) if any, else the offline score (key facts and "
        "token F1) against the labelled or dataset reference. For an LLM's grade: "
        f"`python -m assistant judge --run {run_id}` (needs a cloud key)."
    )
else:
    st.caption(
        f"LLM judge ({', '.join(judge['models'])}): mean grade {judge['mean_score']:.2f} over "
        f"{judge['graded']} answers; the judge's own cost {format_usd(judge['cost_usd'])} is not in "
        "the run's cost."
    )

requests = detail.data["requests"]
left, right = st.columns(2)
with left:
    st.subheader("Latency per request")
    st.bar_chart(requests, x="question_id", y="total_latency_ms", color="tier", height=260)
with right:
    st.subheader("Cost by stage")
    st.bar_chart(detail.data["by_stage"], x="stage", y="cost_usd", height=260)

st.subheader("Requests")
st.dataframe(
    requests[
        [
            "media_t_s",
            "question_id",
            "asker",
            "question",
            "score",
            "tier",
            "llm_model_resolved",
            "vision_model_resolved",
            "total_latency_ms",
            "total_cost_usd",
            "status",
            "quality",
            *(["judge_score"] if "judge_score" in requests.columns else []),
            "answer",
            "reference_answer",
        ]
    ],
    hide_index=True,
    width="stretch",
)

screens = _screens(ledger_path, run_id)
if screens.data:
    st.subheader("Screen readings")
    labels = [s["label"] for s in screens.data]
    label = st.selectbox("Reading", labels, key="runs.screen")
    chosen = screens.data[labels.index(label)]
    left, right = st.columns(2)
    left.markdown(chosen["text"])
    if chosen["parts"] is None:
        right.caption(NO_POSITIONS)
    else:
        right.caption("Parts with their boxes, as fractions of the frame (origin top-left)")
        right.dataframe(chosen["parts"], hide_index=True, width="stretch")
