"""The Fleet page and its view: every running session from the ledger, lost workers and budgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.configs import recorded_config
from support.pages import open_page

from assistant.ledger import Ledger
from assistant.ledger.records import RunRecord
from assistant.ledger.store import mark_running
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views.fleet import FLEET_COLUMNS, read_fleet
from assistant.views.result import ErrorKind


def _fleet(path: Path, tiny: Path) -> None:
    """Three runs in progress: one busy and over its budget, one quiet for two minutes (lost),
    one fresh; and one finished run that the fleet leaves out."""
    with Ledger(path) as ledger:
        for run_id in ("busy", "done"):
            replay(load_dataset(tiny), ledger=ledger, config=recorded_config(0.3), run_id=run_id)
        cur = ledger.cursor()
        mark_running(cur, "busy", worker="host-a:11")
        cur.execute("UPDATE calls SET cost_usd = 0.01 WHERE run_id = 'busy'").fetchall()
        config = json.dumps({"routing": {"budget_usd_per_hour": 0.5}})
        cur.execute("UPDATE runs SET config_json = ? WHERE run_id = 'busy'", [config]).fetchall()
        for run_id, worker in (("quiet", "host-b:22"), ("fresh", "host-c:33")):
            ledger.start_run(RunRecord(
                run_id=run_id, source_kind="livekit", source_ref="room", dataset_name=None,
                tenant="globex", room=f"room-{run_id}", config_json="{}", config_hash="h",
                media_duration_s=None, worker=worker,
            ))
        cur.execute(
            "UPDATE runs SET heartbeat_at = now() - INTERVAL 2 MINUTE WHERE run_id = 'quiet'"
        ).fetchall()


def test_the_fleet_view_shows_running_sessions_lost_workers_and_budgets(
    tiny: Path, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.duckdb"
    assert read_fleet(path).error is ErrorKind.MISSING
    Ledger(path).close()
    assert read_fleet(path).error is ErrorKind.EMPTY
    _fleet(path, tiny)
    view = read_fleet(path)
    assert view.data is not None, view.message
    frame = view.data.set_index("run_id")
    assert list(view.data.columns) == list(FLEET_COLUMNS)
    assert set(frame.index) == {"busy", "quiet", "fresh"}  # the finished run is not in the fleet
    assert frame.loc["quiet", "state"] == "lost" and frame.loc["fresh", "state"] == "running"
    busy = frame.loc["busy"]
    assert busy["worker"] == "host-a:11" and busy["requests"] > 0
    calls = busy["cost_usd"] / 0.01
    assert calls == pytest.approx(round(calls))  # every call of the run, at 0.01 each
    assert busy["cost_per_media_hour_usd"] == pytest.approx(busy["cost_usd"] / busy["media_s"]
                                                            * 3600)
    assert busy["cost_per_media_hour_usd"] > 0.5 and busy["over_budget"]
    assert busy["state"] == "over budget"
    assert "3 sessions on 3 workers; 1 lost" in str(view.message)
    assert read_fleet(path, lost_after_s=3600).data["state"].tolist().count("lost") == 0


def test_the_fleet_page_lists_every_running_session(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "fleet.duckdb"
    _fleet(path, tiny)
    app = open_page(path, "pages/fleet.py")
    assert not app.exception
    assert app.title[0].value == "Fleet"
    table = app.dataframe[0].value
    assert sorted(table["run_id"]) == ["busy", "fresh", "quiet"]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Sessions"] == "3" and metrics["Lost"] == "1" and metrics["Over budget"] == "1"


def test_the_fleet_page_says_what_to_do_with_no_session(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    Ledger(path).close()
    app = open_page(path, "pages/fleet.py")
    assert not app.exception
    assert "No session is running" in app.info[0].value
