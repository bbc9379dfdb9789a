"""Label: a run's questions with the screen, the transcript and the answers; references, key facts,
grades and preferences, and edits of proposed questions, stored in the ledger. Layout only."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from assistant.views import default_ledger
from assistant.views.labels import (
    LABELS_HINT,
    Label,
    default_author,
    export_labels,
    parse_key_facts,
    read_label_run,
    save_labels,
    write_dataset,
)
from assistant.views.live import Thumbnails, thumbnails
from assistant.views.workbench import read_runs
from pages.common.cache import cached

st.title("Label")
ledger_path = st.session_state.get("wb.ledger") or default_ledger()
tenant = st.session_state.get("wb.tenant")
if "label.author" not in st.session_state:
    st.session_state["label.author"] = default_author()


def _decode(source_ref: str, times: tuple[float, ...]) -> Thumbnails:
    return thumbnails(source_ref, list(times))


_thumbnails = cached(_decode, ttl_s=3600, max_entries=64, spinner="Decoding the screen…")


def _store(labels: list[Any]) -> None:
    """Button callback: store, remember the outcome for this rerun, drop cached figures."""
    result = save_labels(ledger_path, labels)
    st.session_state["label.outcome"] = (result.ok, result.message)
    if result.ok:
        st.cache_data.clear()  # the Runs page and the Routing lab read quality anew


def _write_back(run_id: str) -> None:
    result = write_dataset(ledger_path, run_id)
    st.session_state["label.outcome"] = (result.ok, result.message)


runs_view = read_runs(ledger_path, tenant)
if runs_view.data is None:
    st.info(runs_view.message or LABELS_HINT)
    st.stop()
runs = runs_view.data[runs_view.data["requests"] > 0]
if runs.empty:
    st.info(LABELS_HINT)
    st.stop()

top_left, top_right = st.columns([3, 1])
run_id = top_left.selectbox("Run", runs["run_id"].tolist(), key="label.run")
top_right.text_input("Author", key="label.author", help="stored with every label")

view = read_label_run(ledger_path, run_id)
if view.data is None:
    st.warning(view.message)
    st.stop()
data = view.data
summary = data["summary"]
quality = "n/a" if summary.mean_quality is None else f"{summary.mean_quality:.3f}"
st.caption(
    f"{summary.labelled} of {summary.requests} labelled · mean quality {quality} · "
    + ("both tiers' answers recorded" if data["both_tiers"] else "the routed answer only")
)

outcome = st.session_state.pop("label.outcome", None)
if outcome is not None:
    ok, message = outcome
    (st.success if ok else st.error)(message)

items = data["items"]
by_id = {i["request_id"]: i for i in items}


def _title(request_id: str) -> str:
    item = by_id[request_id]
    mark = "✓" if any(a["quality"] is not None for a in item["answers"].values()) else "·"
    return f"{mark} {item['question_id'] or '—'} {item['media_t_s']:.1f}s: {item['question'][:70]}"


request_id = st.selectbox("Question", list(by_id), format_func=_title, key="label.request")
item = by_id[request_id]
labels = item["labels"]
rid = request_id

screen_col, talk_col = st.columns([3, 2])
with screen_col:
    thumbs = _thumbnails(data["source_ref"], (item["media_t_s"],))
    image = thumbs.images.get(item["media_t_s"])
    if image is not None:
        st.image(image, caption=f"the screen at {item['media_t_s']:.1f}s", width="stretch")
    else:
        st.caption(thumbs.message or "no screen at this time")
with talk_col:
    st.markdown(f"**{item['asker'] or 'someone'}** asked: {item['question']}")
    for line in item["transcript"]:
        st.caption(f"{line['start_s']:.1f}s {line['participant']}: {line['text']}")

st.subheader("Answers")
tiers = sorted(item["answers"])
answer_cols = st.columns(max(1, len(tiers)))
for column, tier in zip(answer_cols, tiers, strict=False):
    answer = item["answers"][tier]
    routed = " (routed)" if tier == item["tier"] else ""
    q = "unknown" if answer["quality"] is None else f"{answer['quality']:.2f}"
    with column:
        st.markdown(f"**{tier}**{routed} · {answer['model'] or ''}")
        st.write(answer["answer"] or "(no answer)")
        st.caption(f"quality {q} ({answer['quality_source'] or 'no reference'})")
        grade = labels.get(("grade", tier))
        st.number_input(
            "Grade (0–1)",
            value=float(grade["score"]) if grade is not None else 1.0,
            step=0.1,
            key=f"label.score.{rid}.{tier}",
        )
        st.button(
            "Save grade",
            key=f"label.grade.{rid}.{tier}",
            on_click=lambda t=tier, run_id=run_id, rid=rid: _store(
                [
                    Label(
                        run_id=run_id,
                        request_id=rid,
                        kind="grade",
                        tier=t,
                        score=float(st.session_state[f"label.score.{rid}.{t}"]),
                        author=st.session_state["label.author"],
                    )
                ]
            ),
        )

if len(tiers) > 1:
    preferred = labels.get(("preference", None))
    choices = [*tiers, "tie"]
    st.radio(
        "Which answer is better?",
        choices,
        index=choices.index(preferred["preferred_tier"]) if preferred is not None else 0,
        horizontal=True,
        key=f"label.prefer.{rid}",
    )
    st.button(
        "Save preference",
        key=f"label.prefer.save.{rid}",
        on_click=lambda run_id=run_id, rid=rid: _store(
            [
                Label(
                    run_id=run_id,
                    request_id=rid,
                    kind="preference",
                    preferred_tier=st.session_state[f"label.prefer.{rid}"],
                    author=st.session_state["label.author"],
                )
            ]
        ),
    )

st.subheader("Reference")
given = labels.get(("reference", None))
st.text_area(
    "Reference answer",
    value=(given["reference"] or "") if given is not None else (item["reference"] or ""),
    key=f"label.reference.{rid}",
)
st.text_area(
    "Key facts (one per line)",
    value="\n".join(json.loads(given["key_facts_json"] or "[]")) if given is not None else "",
    key=f"label.facts.{rid}",
)
st.button(
    "Save reference",
    key=f"label.reference.save.{rid}",
    on_click=lambda run_id=run_id, rid=rid: _store(
        [
            Label(
                run_id=run_id,
                request_id=rid,
                kind="reference",
                reference=st.session_state[f"label.reference.{rid}"],
                key_facts=parse_key_facts(st.session_state[f"label.facts.{rid}"]),
                author=st.session_state["label.author"],
            )
        ]
    ),
)

st.subheader("The question")
st.text_input("Question text", value=item["question"], key=f"label.text.{rid}")
accept_col, edit_col, delete_col = st.columns(3)
for column, kind, title in (
    (accept_col, "question_accept", "Accept"),
    (edit_col, "question_edit", "Save edit"),
    (delete_col, "question_delete", "Delete"),
):
    column.button(
        title,
        key=f"label.{kind}.{rid}",
        on_click=lambda k=kind, run_id=run_id, rid=rid: _store(
            [
                Label(
                    run_id=run_id,
                    request_id=rid,
                    kind=k,
                    question=st.session_state[f"label.text.{rid}"],
                    author=st.session_state["label.author"],
                )
            ]
        ),
    )
state = [k for k, _ in labels if k.startswith("question_")]
if state:
    st.caption("in force: " + ", ".join(sorted(state)))

st.subheader("Labels of this run")
history = data["history"]
if history.empty:
    st.caption("No labels yet.")
else:
    st.dataframe(
        history[
            [
                "created_at",
                "author",
                "question_id",
                "kind",
                "tier",
                "score",
                "preferred_tier",
                "reference",
                "key_facts_json",
                "question",
            ]
        ],
        hide_index=True,
        width="stretch",
    )
export = export_labels(ledger_path, run_id)
left, right = st.columns(2)
left.download_button(
    "Export labels (JSON lines)",
    export.data or "",
    file_name=f"labels-{run_id}.jsonl",
    disabled=not export.data,
    key="label.export",
)
right.button(
    "Write into the dataset's questions.jsonl",
    key="label.write_dataset",
    on_click=lambda run_id=run_id: _write_back(run_id),
    help="references, key facts, accepted, edited and deleted questions; grades stay here",
)
