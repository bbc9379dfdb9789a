"""The Live room page from app.py (empty ledger, a replayed demo, a ledger held by another process,
a paced replay started and stopped from the page, LiveKit rooms through the fake server) and the
read helpers behind it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.fakes.livekit_server import FakeLiveKit
from support.pages import DEMO_RUN, ROOT, open_page
from support.pages import demo_ledger as build_demo_ledger

from assistant.jobs.runner import job_status, list_jobs, wait_job
from assistant.ledger import Ledger
from assistant.ledger.queries import run_summary
from assistant.livekit.admin import ENV_VARS
from assistant.views.live import WAITING, cost_per_hour, is_locked, read_live, usd

PAGE = "pages/live.py"
_HOLD = """
import sys, time
from assistant.ledger import Ledger
ledger = Ledger(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="session")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_ledger(tmp_path_factory)


@pytest.fixture
def held(demo_ledger: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the demo ledger, held for writing by another process (as a replay holds it)."""
    path = Path(shutil.copy(demo_ledger, tmp_path / "held.duckdb"))
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "ready":
            pytest.fail(f"the holder did not open the ledger: {holder.communicate()[1]}")
        yield path
    finally:
        holder.kill()
        holder.wait()


def _labels(app: AppTest) -> list[str]:
    return [m.label for m in app.metric]


def test_empty_ledger_says_what_to_do_first(tmp_path: Path) -> None:
    app = open_page(tmp_path / "none.duckdb", PAGE)
    assert not app.exception
    assert app.title[0].value == "Live room"
    assert app.radio(key="live.mode").value == "Paced dataset"
    info = app.info[0].value
    assert "python -m assistant replay datasets/demo" in info
    assert "start a paced replay above" in info
    assert [b.label for b in app.button] == ["Start paced replay"]


def test_a_replayed_run_fills_every_panel(demo_ledger: Path) -> None:
    app = open_page(demo_ledger, PAGE)
    assert not app.exception
    assert app.selectbox(key="live.run").value == DEMO_RUN
    assert _labels(app) == ["Status", "Media", "Questions", "Cost so far", "Cost per hour"]
    values = {m.label: m.value for m in app.metric}
    assert values["Status"] == "finished" and values["Questions"] == "20"
    assert values["Media"] == "249 s"
    with Ledger(demo_ledger, read_only=True) as ledger:
        summary = run_summary(ledger, DEMO_RUN)
    assert values["Cost so far"] == usd(summary.total_cost_usd)
    assert values["Cost per hour"] == usd(summary.cost_per_media_hour_usd)
    assert len(app.get("image")) == 4  # the latest kept frames, decoded from the video
    answers = [c for c in app.caption if "[1]" in c.value]  # cited answers under each question
    assert len(answers) == 6
    said = [m.value for m in app.markdown if " s` **" in m.value]
    asked = [m for m in said if "→" in m]
    assert len(said) - len(asked) == 12 and len(asked) == 6  # transcript lines, questions
    assert all("vs threshold 0.30" in m for m in asked)


def test_a_held_ledger_shows_a_calm_waiting_message(held: Path) -> None:
    app = open_page(held, PAGE)
    assert not app.exception
    assert not app.error
    assert any(WAITING in i.value for i in app.info)
    view = read_live(held, DEMO_RUN)
    assert view.data is None and view.message == WAITING


def test_start_and_stop_a_paced_replay_from_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_JOBS", str(tmp_path / "jobs"))
    ledger = tmp_path / "live.duckdb"
    app = open_page(ledger, PAGE)
    app.select_slider(key="live.speed").set_value(2.0)
    app.button(key="live.start").click().run()
    assert not app.exception and not app.error
    (job,) = list_jobs(ledger=str(ledger))
    assert job.paced == 2.0 and "--paced" in job.steps[0].argv
    deadline = time.monotonic() + 120
    while job_status(job).steps[0].status != "running" and time.monotonic() < deadline:
        assert not job_status(job).done, job_status(job).text
        time.sleep(0.3)
    app.run()
    assert not app.exception
    assert f"Following the paced replay **{job.steps[0].run_id}** (2x)" in app.markdown[0].value
    progress = app.get("progress")
    assert progress and job.steps[0].run_id in progress[0].proto.text
    shown = " ".join(i.value for i in app.info) + " ".join(m.label for m in app.metric)
    assert WAITING in shown or "Cost per hour" in shown  # held by the replay, or readable
    app.button(key="live.stop").click().run()
    assert not app.exception
    assert wait_job(job, timeout_s=120).state == "interrupted"
    app.run()
    assert not app.exception
    assert app.selectbox(key="live.run").value == job.steps[0].run_id
    assert {m.label: m.value for m in app.metric}["Status"] == "interrupted"


def test_livekit_mode_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    app = open_page(tmp_path / "none.duckdb", PAGE, state={"live.mode": "LiveKit room"})
    assert not app.exception
    assert all(name in app.info[0].value for name in ENV_VARS)


def test_livekit_mode_lists_the_tenants_rooms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLiveKit() as fake:
        monkeypatch.setenv("LIVEKIT_URL", fake.url)
        monkeypatch.setenv("LIVEKIT_API_KEY", fake.api_key)
        monkeypatch.setenv("LIVEKIT_API_SECRET", fake.api_secret)
        meta = json.dumps({"tenant_id": "acme", "custom": {}})
        fake.add_room("tenant_acme_standup", metadata=meta, num_participants=2)
        fake.add_room("tenant_other_x", metadata=json.dumps({"tenant_id": "other"}))
        fake.add_participant("tenant_acme_standup", "alice", tracks=("SCREEN_SHARE", "MICROPHONE"))
        app = open_page(
            tmp_path / "none.duckdb",
            PAGE,
            state={"live.mode": "LiveKit room", "live.tenant": "acme"},
        )
        assert not app.exception
        table = app.dataframe[0].value
        assert list(table["room"]) == ["standup"] and list(table["participants"]) == [2]
        people = app.dataframe[1].value  # who is in the chosen room, and what they publish
        assert list(people["identity"]) == ["alice"]
        assert list(people["tracks"]) == ["screen share 1280x720, microphone"]
        hint = " ".join(c.value for c in app.caption) + " ".join(m.value for m in app.markdown)
        assert "python -m assistant.agent dev" in hint


def test_read_live_latest_rows_and_running_cost(demo_ledger: Path) -> None:
    view = read_live(demo_ledger, DEMO_RUN, frames=3, lines=5, questions=2, media_s=124.3)
    assert view.data is not None
    frames, utterances = view.data["frames"], view.data["utterances"]
    assert len(frames) == 3 and frames["media_t_s"].is_monotonic_increasing
    assert len(utterances) == 5 and utterances["start_s"].is_monotonic_increasing
    assert len(view.data["questions"]) == 2
    totals = view.data["totals"]
    assert totals["media_s"] == 124.3
    assert totals["cost_per_hour_usd"] == pytest.approx(totals["cost_usd"] / 124.3 * 3600)
    assert cost_per_hour(1.0, 0.0) is None and cost_per_hour(1.0, 1800) == 2.0
    missing = read_live(demo_ledger, "nope")
    assert missing.data is None and "nope" in (missing.message or "")


def test_money_and_lock_wording() -> None:
    assert usd(None) == "n/a" and usd(0.0) == "$0" and usd(0.0153) == "$0.0153"
    assert usd(0.000043) == "$0.0000430"  # dollars, never µ$ (issue 20, item 14)
    assert is_locked("ledger x is locked by another process (process 12): ...")
    assert not is_locked("ledger x does not exist")
