"""Many writers, one ledger: DuckLake with a real PostgreSQL catalog (Debian's ``postgresql``,
started by tests/support/postgres.py; skipped with the reason where it is not installed).

Four replay processes write one lake while the workbench's read path queries it; four processes
race the migrations of a new lake; a worker killed with SIGKILL is resumed by another process;
every row lands exactly once and plain DuckDB reads it all back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from support import postgres
from support.fakes.vendors import FakeVendors, Reply
from support.ledger import ROOT, env, run_contents

from assistant.core.config import load_config
from assistant.ledger import Ledger
from assistant.ledger.lake import LAKE_ALIAS, load_extensions
from assistant.ledger.lakes import release_lakes
from assistant.ledger.queries import run_summary
from assistant.ledger.schema import MIGRATIONS
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views.result import ErrorKind
from assistant.views.workbench import read_runs

pytestmark = pytest.mark.skipif(
    postgres.missing_reason() is not None, reason=str(postgres.missing_reason())
)
RECORDED = '[stt]\nprovider = "recorded:"\n'
_OPEN = "import sys\nfrom assistant.ledger import Ledger\nLedger(sys.argv[1]).close()\n"


@pytest.fixture(scope="module")
def server() -> Iterator[postgres.Server]:
    with postgres.running_server() as running:
        yield running


@pytest.fixture
def lake(
    server: postgres.Server, request: pytest.FixtureRequest, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A new lake: its own catalog database on the server, its data in this test's folder."""
    name = request.node.name.lower().replace("-", "_")[:40]
    server.create_database(name)
    monkeypatch.setenv("WORKBENCH_LAKE_DATA", str(tmp_path / "lake-data"))
    yield server.lake(name)
    release_lakes()


def _lake_env(tmp_path: Path) -> dict[str, str]:
    return {**env(), "WORKBENCH_LAKE_DATA": str(tmp_path / "lake-data")}


def _plain_duckdb(spec: str) -> duckdb.DuckDBPyConnection:
    """The lake read back by plain DuckDB: the extensions, one ATTACH, no workbench code."""
    con = duckdb.connect()
    load_extensions(con, "postgres")
    con.execute(f"ATTACH '{spec}' AS {LAKE_ALIAS} (READ_ONLY)")
    return con


def test_four_processes_racing_the_migrations_apply_each_once(lake: str, tmp_path: Path) -> None:
    racers = [
        subprocess.Popen([sys.executable, "-c", _OPEN, lake], env=_lake_env(tmp_path), cwd=ROOT,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for racer in racers:
        _, err = racer.communicate(timeout=300)
        assert racer.returncode == 0, err
    con = _plain_duckdb(lake)
    applied = con.execute(
        f"SELECT version, count(*) FROM {LAKE_ALIAS}.schema_migrations GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert applied == [(m.version, 1) for m in MIGRATIONS]
    columns = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_catalog = ? AND "
        "table_name = 'requests' AND column_name = 'vision_route_reason'", [LAKE_ALIAS]
    ).fetchall()
    assert columns == [(1,)]  # an ALTER raced by four processes: one column


def test_four_replays_write_one_lake_while_the_workbench_reads_it(
    lake: str, tiny: Path, tmp_path: Path
) -> None:
    config = tmp_path / "recorded.toml"
    config.write_text(RECORDED)
    with Ledger(tmp_path / "reference.duckdb") as file:  # the same session, one writer, a file
        replay(load_dataset(tiny), ledger=file, config=load_config(config), run_id="reference")
        reference = run_contents(file, "reference")
    Ledger(lake).close()  # migrated once, so the readers below see tables from the start

    seen: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def read_while_they_write() -> None:  # the workbench's own read path (the Runs page)
        while not stop.is_set():
            view = read_runs(lake)
            if view.error is ErrorKind.EMPTY:
                seen.append(0)
            elif view.data is None:
                errors.append(str(view.message))
            else:
                seen.append(len(view.data))
            time.sleep(0.2)

    reader = threading.Thread(target=read_while_they_write)
    reader.start()
    command = [sys.executable, "-m", "assistant", "replay", str(tiny), "--ledger", lake,
               "--config", str(config), "--quiet"]
    try:
        workers = [subprocess.Popen(command, env=_lake_env(tmp_path), cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(4)]
        for worker in workers:
            _, err = worker.communicate(timeout=600)
            assert worker.returncode == 0, err
    finally:
        stop.set()
        reader.join(timeout=60)
    assert errors == []
    assert seen and max(seen) <= 4 and seen[-1] == 4

    con = _plain_duckdb(lake)
    runs = con.execute(f"SELECT run_id, status FROM {LAKE_ALIAS}.runs").fetchall()
    assert len({r[0] for r in runs}) == 4 and {r[1] for r in runs} == {"finished"}
    for table, key in (("requests", "request_id"), ("calls", "call_id")):
        dupes = con.execute(
            f"SELECT {key} FROM {LAKE_ALIAS}.{table} GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        assert dupes == [], table
    with Ledger(lake, read_only=True) as ledger:
        for run_id, _ in runs:
            assert run_contents(ledger, run_id) == reference  # each run whole, each row once


def test_a_worker_killed_mid_run_is_resumed_by_another_process(
    lake: str, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_crash import CONFIG, EXTRA_QUESTIONS

    with (tiny / "questions.jsonl").open("a") as questions:
        questions.writelines(json.dumps(q) + "\n" for q in EXTRA_QUESTIONS)
    config_file = tmp_path / "premium.toml"
    config_file.write_text(CONFIG)
    with FakeVendors() as fake:
        monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", fake.openai_url)
        with Ledger(tmp_path / "reference.duckdb") as file:
            replay(load_dataset(tiny), ledger=file, config=load_config(config_file),
                   run_id="crash")
            reference = run_contents(file, "crash")
        answered = len(fake.of("openai"))
        fake.push("openai", Reply.answer(), Reply.answer(), Reply.answer(), Reply.stall(30))
        command = [sys.executable, "-m", "assistant", "replay", str(tiny), "--ledger", lake,
                   "--config", str(config_file), "--quiet"]
        worker_env = {**_lake_env(tmp_path), "OPENAI_COMPATIBLE_BASE_URL": fake.openai_url}
        victim = subprocess.Popen([*command, "--run-id", "crash"], env=worker_env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 300
            while len(fake.of("openai")) < answered + 4:
                assert time.monotonic() < deadline, "timed out waiting for the fourth question"
                assert victim.poll() is None, victim.stderr.read() if victim.stderr else ""
                time.sleep(0.05)
            os.kill(victim.pid, signal.SIGKILL)
        finally:
            victim.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL

        with Ledger(lake, read_only=True) as ledger:
            partial = run_contents(ledger, "crash")
            assert run_summary(ledger, "crash").status == "running"
        assert [r[0] for r in partial["requests"]] == ["q1", "q2", "q3"]

        resumed = subprocess.run([*command, "--resume", "crash"], env=worker_env, cwd=ROOT,
                                 capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming run crash after" in resumed.stderr

    with Ledger(lake, read_only=True) as ledger:
        final = run_contents(ledger, "crash")
        summary = run_summary(ledger, "crash")
    assert final["duplicate_call_ids"] == []
    assert final == reference
    assert summary.status == "finished" and summary.requests == 6
