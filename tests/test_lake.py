"""The ledger on DuckLake without a server: a DuckDB-file or SQLite catalog (``ducklake:FILE``,
``ducklake:sqlite:FILE``). The same schema and queries as the file; guarantees by design where
the lake has no keys; copy between a file and a lake; compaction; a newer DuckDB's file refused
with the command that converts it. The many-writer tests with PostgreSQL are in
tests/reliability/test_lake_fleet.py."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from support.ledger import ROOT, env, run_contents

from assistant.core.config import load_config
from assistant.core.errors import LedgerError
from assistant.ledger import Ledger
from assistant.ledger.lake import LAKE_ALIAS, load_extensions
from assistant.ledger.lakes import compact_lake, copy_ledger, ledger_tables
from assistant.ledger.queries import list_runs, run_summary
from assistant.ledger.records import RunRecord, utc_now
from assistant.ledger.schema import SCHEMA_VERSION
from assistant.ledger.sink import LakeSink, open_sink
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

RECORDED = '[stt]\nprovider = "recorded:"\n'


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WORKBENCH_LAKE_DATA", str(tmp_path / "lake-data"))
    return f"ducklake:{tmp_path / 'catalog.ducklake'}"


def _run(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id, source_kind="dataset", source_ref="x", dataset_name="x", tenant="t",
        room="r", config_json="{}", config_hash="h", media_duration_s=1.0, started_at=utc_now(),
        ended_at=None, status="running", error=None,
    )


def table_rows(ledger: Ledger, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` in one order, times as UTC (through Arrow: no pytz needed)."""
    sql = f'SELECT * FROM "{table}" ORDER BY ALL'
    rows: list[dict[str, Any]] = ledger.cursor().execute(sql).to_arrow_table().to_pylist()
    return rows


def test_a_lake_takes_the_files_schema_without_keys(lake: str, tmp_path: Path) -> None:
    with Ledger(lake) as ledger, Ledger(tmp_path / "f.duckdb") as file:
        assert ledger.lake and not file.lake
        assert ledger_tables(ledger) == ledger_tables(file)
        for table in ledger_tables(file):
            columns = "SELECT column_name, data_type FROM information_schema.columns WHERE " \
                "table_catalog = current_database() AND table_name = ? ORDER BY ordinal_position"
            assert ledger.cursor().execute(columns, [table]).fetchall() == \
                file.cursor().execute(columns, [table]).fetchall(), table
        keys = "SELECT count(*) FROM information_schema.table_constraints WHERE " \
            "table_catalog = current_database() AND constraint_type = 'PRIMARY KEY'"
        assert file.cursor().execute(keys).fetchall()[0][0] > 0
        assert ledger.cursor().execute(keys).fetchall()[0][0] == 0  # a lake has none
        versions = ledger.cursor().execute("SELECT max(version) FROM schema_migrations").fetchall()
        assert versions[0][0] == SCHEMA_VERSION
    with Ledger(lake) as again:  # DuckLake remembered the data path; nothing to migrate
        assert again.applied_migrations == []


def test_a_taken_run_id_is_refused_by_design_where_the_lake_has_no_key(lake: str) -> None:
    with Ledger(lake) as ledger:
        ledger.start_run(_run("r1"))
        with pytest.raises(LedgerError, match="already exists"):
            ledger.start_run(_run("r1"))
        # without the check the lake would take the row twice: it has no key to stop it
        ledger.cursor().execute("INSERT INTO runs SELECT * FROM runs").fetchall()
        assert ledger.cursor().execute("SELECT count(*) FROM runs").fetchall()[0][0] == 2


def test_a_replay_into_a_lake_equals_the_same_replay_into_a_file(
    lake: str, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # nothing may be written beside a lake's connection string
    (tmp_path / "c.toml").write_text(RECORDED)
    config = load_config(tmp_path / "c.toml")
    with Ledger(tmp_path / "f.duckdb") as file:
        replay(load_dataset(tiny), ledger=file, config=config, run_id="same")
        expected = run_contents(file, "same")
        summary_file = run_summary(file, "same")
    sink = open_sink(lake)
    assert isinstance(sink, LakeSink)
    with sink:
        replay(load_dataset(tiny), ledger=sink, config=config, run_id="same")
    assert sink.commits > 1  # one transaction per checkpoint, no spool
    with Ledger(lake) as ledger:
        summary = run_summary(ledger, "same")
        assert summary.status == "finished" and summary.requests == summary_file.requests
        assert list(list_runs(ledger)["run_id"]) == ["same"]
        got = run_contents(ledger, "same")
    assert got == expected and got["requests"]
    assert list(work.iterdir()) == []  # no run-lock folder named after "ducklake:…"


def test_copy_a_file_into_a_lake_and_back_table_by_table(
    lake: str, tiny: Path, tmp_path: Path
) -> None:
    (tmp_path / "c.toml").write_text(RECORDED)
    source = tmp_path / "laptop.duckdb"
    with Ledger(source) as file:
        replay(load_dataset(tiny), ledger=file, config=load_config(tmp_path / "c.toml"))
        before = {t: table_rows(file, t) for t in ledger_tables(file)}
    there = copy_ledger(str(source), lake)
    assert there.rows_by_table["requests"] == len(before["requests"]) > 0
    back = tmp_path / "back.duckdb"
    copy_ledger(lake, str(back))
    with Ledger(back) as file:
        after = {t: table_rows(file, t) for t in ledger_tables(file)}
    for table in before:
        for a, b in zip(after[table], before[table], strict=True):
            assert {k: (v, b[k]) for k, v in a.items() if a[k] != b[k]} == {}, table
    with pytest.raises(LedgerError, match="already holds rows"):
        copy_ledger(str(source), lake)  # nothing merged into a ledger in use


def test_the_copy_command_and_compact_report_what_they_did(
    lake: str, tiny: Path, tmp_path: Path
) -> None:
    (tmp_path / "c.toml").write_text(RECORDED)
    source = tmp_path / "laptop.duckdb"
    with Ledger(source) as file:
        replay(load_dataset(tiny), ledger=file, config=load_config(tmp_path / "c.toml"))
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "ledger", "copy", str(source), lake],
        env={**env(), "WORKBENCH_LAKE_DATA": str(tmp_path / "lake-data")}, cwd=ROOT,
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "copied" in done.stdout and "requests" in done.stdout
    with LakeSink(lake) as sink:  # small commits: many snapshots, a small file each
        for i in range(5):
            sink.start_run(_run(f"small-{i}"))
    report = compact_lake(lake, keep_days=0)
    assert report.snapshots_after < report.snapshots_before
    assert report.files_after < report.files_before
    assert report.files_deleted > 0
    assert any("snapshots" in line for line in report.lines())
    with Ledger(lake) as ledger:  # nothing lost
        assert ledger.cursor().execute("SELECT count(*) FROM runs").fetchall()[0][0] == 6
    refused = subprocess.run(
        [sys.executable, "-m", "assistant", "ledger", "compact", "--ledger", str(source)],
        env=env(), cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 2 and "not a lake" in refused.stderr


def test_a_sqlite_catalog_works_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_LAKE_DATA", str(tmp_path / "data"))
    spec = f"ducklake:sqlite:{tmp_path / 'catalog.sqlite'}"
    with Ledger(spec) as ledger:
        ledger.start_run(_run("s1"))
    with Ledger(spec, read_only=True) as ledger:
        assert list(list_runs(ledger)["run_id"]) == ["s1"]


def test_plain_duckdb_reads_the_lake(lake: str) -> None:
    with Ledger(lake) as ledger:
        ledger.start_run(_run("plain"))
    con = duckdb.connect()
    load_extensions(con, "duckdb")
    con.execute(f"ATTACH '{lake}' AS {LAKE_ALIAS} (READ_ONLY)")
    assert con.execute(f"SELECT run_id FROM {LAKE_ALIAS}.runs").fetchall() == [("plain",)]


def test_a_file_from_a_newer_duckdb_is_refused_naming_the_command_that_converts_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "workbench.duckdb"  # a ledger written by DuckDB 2.0.0 (the previous pin)
    path.write_bytes(gzip.decompress((ROOT / "tests/support/data/ledger-duckdb-2.0.0.duckdb.gz")
                                     .read_bytes()))
    with pytest.raises(LedgerError) as refused:
        Ledger(path, read_only=True)
    message = str(refused.value)
    assert "\n" not in message
    assert message.endswith(f"convert it once: python -m assistant ledger convert {path}")
    done = subprocess.run([sys.executable, "-m", "assistant", "runs", "--ledger", str(path)],
                          env=env(), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(f"ledger convert {path}")


def test_a_conflict_the_store_wrapped_is_retried_and_other_errors_are_not() -> None:
    """``Ledger.start_run`` names the run in a LedgerError raised from DuckLake's conflict: that
    commit must be tried again like a bare conflict (a bench writer gave up on it once)."""
    from assistant.ledger.lake import is_conflict, retrying

    conflict = duckdb.TransactionException(
        "Failed to commit DuckLake transaction. Transaction conflict - attempting to insert into "
        "table with index \"6\" - but another transaction has deleted from it"
    )
    tries: list[int] = []

    def start_run() -> str:
        tries.append(1)
        if len(tries) < 3:
            try:
                raise conflict
            except duckdb.Error as e:
                raise LedgerError(f"cannot record run r in the lake: {e}") from e
        return "recorded"

    assert retrying(start_run, what="record run r") == "recorded" and len(tries) == 3
    assert not is_conflict(LedgerError("run r is already in the ledger"))

    def taken() -> None:
        raise LedgerError("run r is already in the ledger")

    with pytest.raises(LedgerError, match="already in the ledger"):
        retrying(taken, what="record run r")


def test_an_attach_that_lost_the_race_to_create_the_catalog_is_tried_again() -> None:
    """Writers starting together on an empty PostgreSQL catalog race to create DuckLake's tables:
    the loser's ATTACH fails with "already exists" (seen in CI with four racing processes) and
    must be tried again, when it finds the catalog made; an unrelated failure still stops."""
    from assistant.ledger.lake import _attach

    class Connection:
        def __init__(self, failures: list[Exception]) -> None:
            self.failures, self.statements = failures, []  # type: list[Exception], list[str]

        def execute(self, sql: str) -> Connection:
            self.statements.append(sql)
            if self.failures:
                raise self.failures.pop(0)
            return self

        def fetchall(self) -> list[Any]:
            return []

    lost = duckdb.Error(
        'Failed to initialize DuckLake: Failed to execute query "CREATE TABLE "public".'
        '"ducklake_metadata"(...)": ERROR:  relation "ducklake_metadata" already exists'
    )
    racer = Connection([lost, lost])
    _attach(racer, "postgres:dbname=ledger", [])  # type: ignore[arg-type]
    assert len(racer.statements) == 3 and racer.statements[0].startswith("ATTACH")
    broken = Connection([duckdb.Error("IO Error: could not connect to server")])
    with pytest.raises(duckdb.Error, match="could not connect"):
        _attach(broken, "postgres:dbname=ledger", [])  # type: ignore[arg-type]
