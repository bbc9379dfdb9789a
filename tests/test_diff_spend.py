"""The per-question diff of two runs (Routing lab, A/B tab), spend per participant (Costs page and
exports), and the OTLP receiver started and stopped as the Live room page does."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.configs import recorded_config
from support.otel import post

from assistant.analysis.diff import SORTS, diff_runs, sort_diff
from assistant.core.errors import LedgerError
from assistant.ledger import Ledger
from assistant.ledger.queries import UNTIED, cost_by_participant, run_requests
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views.lab import read_run_diff
from assistant.views.telemetry import (
    read_participant_spend,
    receiver_status,
    start_receiver,
    stop_receiver,
)
from assistant.views.workbench import read_calls

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    """The small session replayed all-cheap (``cheap``) and all-premium (``premium``)."""
    path = tmp_path_factory.mktemp("diff") / "l.duckdb"
    dataset = load_dataset(tiny_master)
    with Ledger(path) as writable:
        replay(dataset, ledger=writable, config=recorded_config(1.0), run_id="cheap")
        replay(dataset, ledger=writable, config=recorded_config(0.0), run_id="premium")
    return path


def test_diff_puts_the_same_questions_side_by_side(two_runs: Path) -> None:
    with Ledger(two_runs, read_only=True) as ledger:
        diff = diff_runs(ledger, "cheap", "premium")
        a, b = run_requests(ledger, "cheap"), run_requests(ledger, "premium")
        with pytest.raises(LedgerError, match="two different runs"):
            diff_runs(ledger, "cheap", "cheap")
    table = diff.table
    assert len(table) == len(a) == len(b) and not diff.only_a and not diff.only_b
    assert set(table["tier_a"]) == {"cheap"} and set(table["tier_b"]) == {"premium"}
    assert diff.tier_changes == len(table)
    by_q = b.set_index("question_id")
    for row in table.itertuples():
        theirs = by_q.loc[row.question_id]
        assert row.cost_usd_b == theirs["total_cost_usd"] and row.answer_b == theirs["answer"]
        assert row.cost_change_usd == pytest.approx(row.cost_usd_b - row.cost_usd_a)
        assert row.latency_change_ms == pytest.approx(row.latency_ms_b - row.latency_ms_a)
        assert theirs["llm_model_resolved"] in row.models_b
    drops = sort_diff(table, "quality: largest drop first")["quality_change"].dropna().tolist()
    assert drops == sorted(drops)
    costs = sort_diff(table, "cost: largest increase first")["cost_change_usd"].tolist()
    assert costs == sorted(costs, reverse=True)
    assert set(SORTS) >= {"quality: largest drop first", "cost: largest increase first"}
    with pytest.raises(ValueError, match="unknown sort"):
        sort_diff(table, "colour")
    assert "questions in both runs" in diff.summary()


def test_diff_lists_questions_asked_in_one_run_only(two_runs: Path) -> None:
    from assistant.analysis.diff import diff_requests

    with Ledger(two_runs, read_only=True) as ledger:
        a, b = run_requests(ledger, "cheap"), run_requests(ledger, "premium")
    dropped = str(b["question_id"].iloc[0])
    diff = diff_requests("cheap", a, "premium", b.iloc[1:])
    assert diff.only_a == (dropped,) and len(diff.table) == len(a) - 1
    assert read_run_diff(two_runs, "cheap", "nope").data is None


def test_spend_per_participant_adds_up_to_each_tenant(two_runs: Path) -> None:
    with Ledger(two_runs, read_only=True) as ledger:
        frame = cost_by_participant(ledger)
        calls = (
            ledger.cursor()
            .execute("SELECT tenant, sum(cost_usd) FROM calls GROUP BY tenant")
            .fetchall()
        )
        askers = {
            r[0] for r in ledger.cursor().execute("SELECT DISTINCT asker FROM requests").fetchall()
        }
        untied = (
            ledger.cursor()
            .execute("SELECT sum(cost_usd) FROM calls WHERE request_id IS NULL")
            .fetchall()[0][0]
        )
        asked = dict(
            ledger.cursor()
            .execute(
                "SELECT q.asker, sum(c.cost_usd) FROM calls c JOIN requests q USING (request_id) GROUP BY 1"
            )
            .fetchall()
        )
    for tenant, total in calls:
        mine = frame[frame["tenant"] == tenant]
        assert mine["cost_usd"].sum() == pytest.approx(total)
        assert mine["share"].sum() == pytest.approx(1.0)
    people = frame[frame["participant"] != UNTIED].set_index("participant")
    assert set(people.index) == askers
    for asker, cost in asked.items():
        assert people.loc[asker, "cost_usd"] == pytest.approx(cost)
    assert frame.loc[frame["participant"] == UNTIED, "cost_usd"].sum() == pytest.approx(
        untied or 0.0
    )
    view = read_participant_spend(two_runs)
    assert view.data is not None and view.data["tenants"]["cost_usd"].sum() == pytest.approx(
        sum(t for _, t in calls)
    )
    exported = read_calls(two_runs)
    assert "participant" in exported.columns
    tied = exported[exported["request_id"].notna()]
    assert (
        set(tied["participant"]) == askers
        and exported[exported["request_id"].isna()]["participant"].isna().all()
    )


def _page(ledger: Path, page: str, state: dict[str, object] | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.session_state["wb.ledger"] = str(ledger)
    app.run()
    app.switch_page(page)
    for key, value in (state or {}).items():
        app.session_state[key] = value
    return app.run()


def test_costs_page_shows_spend_per_participant(two_runs: Path) -> None:
    app = _page(two_runs, "pages/costs.py")
    assert not app.exception
    assert "Spend per participant" in [s.value for s in app.subheader]
    participants = app.dataframe[-1].value
    assert set(participants.columns) >= {"tenant", "participant", "cost_usd", "share"}


def test_ab_tab_shows_the_per_question_diff(two_runs: Path) -> None:
    app = _page(two_runs, "pages/routing_lab.py", {"lab.tab": "A/B"})
    assert not app.exception
    assert "Per question: B beside A" in [s.value for s in app.subheader]
    table = app.dataframe[-1].value
    assert {"tier_a", "tier_b", "quality_change", "cost_change_usd"} <= set(table.columns)
    app.selectbox(key="lab.ab.diff_sort").set_value("cost: largest increase first").run()
    assert not app.exception
    changes = app.dataframe[-1].value["cost_change_usd"].tolist()
    assert changes == sorted(changes, reverse=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_live_page_receiver_starts_and_stops(tmp_path: Path) -> None:
    from support.otel import encode, livekit_llm_spans

    ledger = tmp_path / "rx.duckdb"
    Ledger(ledger).close()
    folder = tmp_path / "rx"
    port = _free_port()
    status = start_receiver(ledger, port=port, token="tok", folder=folder)
    try:
        assert status["running"]
        with pytest.raises(LedgerError, match="already running"):
            start_receiver(ledger, port=port, folder=folder)
        deadline = time.monotonic() + 60
        while not receiver_status(folder)["status"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert receiver_status(folder)["status"]["address"] == f"http://127.0.0.1:{port}/v1/traces"
        spans, _ = livekit_llm_spans(["How much?"])
        url = f"http://127.0.0.1:{port}/v1/traces"
        assert post(url, encode(spans))[0] == 401
        assert post(url, encode(spans), token="tok")[0] == 200
    finally:
        assert stop_receiver(folder)
    deadline = time.monotonic() + 60
    while receiver_status(folder)["running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    final = receiver_status(folder)
    assert not final["running"] and final["status"].get("stopped") is True
    assert final["status"]["requests"] == 1 and final["status"]["unauthorized"] == 1
    with Ledger(ledger, read_only=True) as held:
        assert held.cursor().execute("SELECT count(*) FROM requests").fetchall()[0][0] == 1
    assert json.loads((folder / "status.json").read_text())["written_spans"] == len(spans)


def test_live_page_offers_the_receiver(
    tmp_path: Path, two_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_JOBS", str(tmp_path / "jobs"))
    app = _page(two_runs, "pages/live.py", {"live.mode": "LiveKit room"})
    assert not app.exception
    assert any("OpenTelemetry" in e.label for e in app.expander)
    assert app.button(key="live.otel_start") is not None


def test_pages_show_a_received_run(tmp_path: Path) -> None:
    """A run received from a LiveKit Agents app (no threshold, no media file) on the Runs, Costs
    and Live room pages."""
    from support.otel import encode, livekit_llm_spans

    from assistant.telemetry.receiver import Receiver

    ledger = tmp_path / "rx.duckdb"
    Ledger(ledger).close()
    rx = Receiver(ledger, port=0)
    host, port = rx.start()
    spans, _ = livekit_llm_spans(["What changed?", "Who pays?"])
    assert post(f"http://{host}:{port}/v1/traces", encode(spans))[0] == 200
    (run_id,) = rx.stop().run_ids
    for page, state in (
        ("pages/runs.py", {}),
        ("pages/costs.py", {}),
        ("pages/live.py", {"live.run": run_id}),
    ):
        app = _page(ledger, page, state)
        assert not app.exception, (page, app.exception)
