"""The Replay page from app.py: empty ledger, browsing a replayed demo (timeline, thumbnails decoded
from the video, transcript, routed questions), and replays started from the page in the background
(several thresholds, options the CLI has no flag for) — plus the read helpers behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.pages import DEMO, DEMO_RUN, open_page
from support.pages import demo_ledger as build_demo_ledger

from assistant.jobs.runner import list_jobs, wait_job
from assistant.ledger import Ledger
from assistant.views.live import (
    frames_between,
    list_datasets,
    read_run_detail,
    thumbnails,
    timeline,
)

PAGE = "pages/replay.py"


@pytest.fixture(scope="session")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_ledger(tmp_path_factory)


def test_empty_ledger_says_what_to_do_first(tmp_path: Path) -> None:
    app = open_page(tmp_path / "none.duckdb", PAGE)
    assert not app.exception
    assert app.title[0].value == "Replay"
    assert "python -m assistant replay datasets/demo" in app.info[0].value
    assert any("press Start replay" in c.value for c in app.caption)
    options = app.selectbox(key="replay.dataset").options
    assert any(o.startswith("demo — ") for o in options) and options[-1] == "Another folder…"


def test_browse_a_replayed_demo(demo_ledger: Path) -> None:
    app = open_page(demo_ledger, PAGE)
    assert not app.exception
    assert app.selectbox(key="replay.run").value == DEMO_RUN
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Status"] == "finished" and metrics["Questions"] == "20"
    assert metrics["Kept frames"] == "249" and metrics["Utterances"] == "43"
    assert len(app.get("vega_lite_chart")) == 1  # the timeline
    images = app.get("image")
    assert len(images) == 12  # the first minute's kept frames, thinned to 12, as thumbnails
    captions = [c.value for c in app.caption]
    assert any("12 of the 61 frames kept in 0–60 s" in c for c in captions)
    questions, transcript = app.dataframe[0].value, app.dataframe[1].value
    assert len(transcript) == 43 and list(transcript.columns)[:3] == [
        "start_s",
        "end_s",
        "participant",
    ]
    assert len(questions) == 20
    for column in ("tier", "score", "router", "threshold", "llm_model_resolved"):
        assert column in questions.columns
    for column in ("total_latency_ms", "total_cost_usd", "answer", "reference_answer"):
        assert column in questions.columns
    detail = " ".join(m.value for m in app.markdown)
    assert "Routed **" in detail and "vs threshold 0.3" in detail

    app.slider(key="replay.window").set_value((120.0, 125.0)).run()
    assert not app.exception
    assert any("frames kept in 120–125 s" in c.value for c in app.caption)
    assert len(app.get("image")) == 6  # fixed 1 FPS: 120, 121, ..., 125


def test_replays_started_from_the_page_run_in_the_background(
    tiny_master: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_JOBS", str(tmp_path / "jobs"))
    ledger = tmp_path / "l.duckdb"
    app = open_page(ledger, PAGE)
    app.selectbox(key="replay.dataset").select("Another folder…")
    app.text_input(key="replay.dataset_path").input(str(tiny_master))
    app.text_input(key="replay.thresholds").input("2")
    app.button(key="replay.start").click().run()
    assert not app.exception
    assert "outside [0, 1]" in app.error[0].value
    assert list_jobs(ledger=str(ledger)) == []

    app.text_input(key="replay.thresholds").input("0.2, 0.8")
    app.selectbox(key="replay.policy").select("change")
    app.slider(key="replay.explore").set_value(0.1)
    app.text_input(key="replay.run_prefix").input("page")
    app.button(key="replay.start").click().run()
    assert not app.exception and not app.error
    (job,) = list_jobs(ledger=str(ledger))
    assert job.run_ids == ["page-t0.20", "page-t0.80"]
    assert wait_job(job, timeout_s=300).state == "finished"
    app.run()
    assert not app.exception
    bars = app.get("progress")
    assert bars and bars[0].proto.text == "finished: page-t0.20, page-t0.80"
    assert app.selectbox(key="replay.run").options[0].startswith("page-t0.80")
    with Ledger(ledger, read_only=True) as readable:
        configs = dict(readable.cursor().execute("SELECT run_id, config_json FROM runs").fetchall())
    for run_id, threshold in (("page-t0.20", 0.2), ("page-t0.80", 0.8)):
        config = json.loads(configs[run_id])
        assert config["routing"]["threshold"] == threshold
        assert config["routing"]["explore_share"] == 0.1
        assert config["sampling"]["policy"] == "change"
        assert config["stt"]["provider"] == "recorded:"


def test_run_detail_timeline_and_thinning(demo_ledger: Path) -> None:
    view = read_run_detail(demo_ledger, DEMO_RUN)
    assert view.data is not None
    frames = view.data["frames"]
    assert view.data["source_ref"] == str(DEMO)
    events = timeline(frames, view.data["utterances"], view.data["requests"])
    assert set(events["kind"]) == {"kept frame", "speech", "question"}
    assert set(events["lane"]) == {"screen", "questions", "alice", "bob", "carol"}
    assert (events["end_s"] >= events["start_s"]).all()
    few = frames_between(frames, 0.0, 248.6, limit=5)
    assert len(few) == 5 and few["media_t_s"].iloc[0] == 0.0 and few["media_t_s"].iloc[-1] == 248.0
    assert read_run_detail(demo_ledger, "nope").data is None


def test_thumbnails_are_the_frames_at_those_times() -> None:
    from io import BytesIO

    from PIL import Image

    shots = thumbnails(str(DEMO), [0.0, 30.0, 31.0, 9999.0], width=200)
    assert set(shots.images) == {0.0, 30.0, 31.0}
    assert shots.message is not None and "past the end" in shots.message
    first = Image.open(BytesIO(shots.images[0.0]))
    assert first.format == "JPEG" and first.width == 200 and first.height in (112, 113)  # 16:9
    assert shots.images[0.0] != shots.images[30.0]  # title slide vs the revenue table
    assert thumbnails("/no/such/dataset", [1.0]).message is not None


def test_list_datasets_reads_manifests() -> None:
    names = {d.name for d in list_datasets()}
    assert {"demo", "hard"} <= names
    demo = next(d for d in list_datasets() if d.name == "demo")
    assert demo.duration_s == 248.6 and "Northwind" in demo.label
