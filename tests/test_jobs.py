"""Background replays (assistant/jobs/) with real subprocesses: ``python -m assistant replay`` on
the small synthetic session, one after another, stopped with SIGTERM, failing with a message."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict
from pathlib import Path

import pytest

from assistant.core.config import config_from_dict, toml_text
from assistant.core.errors import ConfigError
from assistant.jobs.progress import read_progress
from assistant.jobs.runner import Job, job_status, list_jobs, start_replays, stop_job, wait_job
from assistant.jobs.spec import ReplayRequest, parse_thresholds
from assistant.ledger import Ledger
from assistant.ledger.queries import list_runs


def _runs(ledger: Path) -> dict[str, dict[str, object]]:
    with Ledger(ledger, read_only=True) as readable:
        frame = list_runs(readable)
        configs = dict(readable.cursor().execute("SELECT run_id, config_json FROM runs").fetchall())
    return {
        row["run_id"]: {**row, "config": json.loads(configs[row["run_id"]])}
        for row in frame.to_dict("records")
    }


def test_several_thresholds_run_one_after_another_with_the_chosen_options(
    tiny_master: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "l.duckdb"
    request = ReplayRequest(
        dataset=str(tiny_master),
        ledger=str(ledger),
        thresholds=(0.0, 1.0),
        stt="recorded",
        config={"sampling": {"policy": "change"}, "routing": {"explore_share": 0.0}},
        run_prefix="jobtest",
    )
    job = start_replays(request, jobs_dir=tmp_path / "jobs")
    assert job.run_ids == ["jobtest-t0.00", "jobtest-t1.00"]
    assert "--progress-file" in job.steps[0].argv and "--quiet" in job.steps[0].argv
    status = wait_job(job, timeout_s=300)
    assert status.state == "finished", (status.text, Path(job.steps[0].log_file).read_text())
    assert [p.status for p in status.steps] == ["finished", "finished"]
    assert status.fraction == 1.0 and status.text == "finished: jobtest-t0.00, jobtest-t1.00"
    last = read_progress(job.steps[1].progress_file)
    assert last is not None and last.run_id == "jobtest-t1.00" and last.duration_s == 8.0

    runs = _runs(ledger)
    assert set(runs) == {"jobtest-t0.00", "jobtest-t1.00"}
    assert {r["status"] for r in runs.values()} == {"finished"}
    for run_id, threshold in (("jobtest-t0.00", 0.0), ("jobtest-t1.00", 1.0)):
        config = runs[run_id]["config"]
        assert config["routing"]["threshold"] == threshold  # type: ignore[index]
        assert config["sampling"]["policy"] == "change"  # type: ignore[index]
        assert config["stt"]["provider"] == "recorded:"  # type: ignore[index]
    assert runs["jobtest-t0.00"]["premium_share"] == 1.0
    assert runs["jobtest-t1.00"]["premium_share"] < 1.0  # type: ignore[operator]

    assert [j.job_id for j in list_jobs(tmp_path / "jobs", ledger=str(ledger))] == [job.job_id]
    assert list_jobs(tmp_path / "jobs", ledger=str(tmp_path / "other.duckdb")) == []


def test_stop_interrupts_the_running_replay_and_skips_the_rest(
    tiny_master: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "l.duckdb"
    request = ReplayRequest(
        dataset=str(tiny_master),
        ledger=str(ledger),
        thresholds=(0.3, 0.5),
        stt="recorded",
        paced=0.5,  # 8 s of media in 16 s: there is time to stop it
        run_prefix="paced",
    )
    job = start_replays(request, jobs_dir=tmp_path / "jobs")
    deadline = time.monotonic() + 120
    status = job_status(job)
    while status.steps[0].status != "running" and time.monotonic() < deadline:
        assert not status.done, status.text
        time.sleep(0.2)
        status = job_status(job)
    assert status.state == "running" and "paced-t0.30" in status.text
    assert stop_job(job)
    status = wait_job(job, timeout_s=120)
    assert status.state == "interrupted", status.text
    assert [p.status for p in status.steps] == ["interrupted", "pending"]
    assert "marked interrupted" in status.text
    runs = _runs(ledger)
    assert set(runs) == {"paced-t0.30"} and runs["paced-t0.30"]["status"] == "interrupted"
    assert not stop_job(job)  # nothing left to stop


def test_a_failing_replay_reports_its_error_line(tiny_master: Path, tmp_path: Path) -> None:
    request = ReplayRequest(
        dataset=str(tiny_master), ledger=str(tmp_path / "l.duckdb"), stt="nosuch:model"
    )
    job = start_replays(request, jobs_dir=tmp_path / "jobs")
    status = wait_job(job, timeout_s=120)
    assert status.state == "failed"
    assert status.error is not None and status.error.startswith("error:")
    assert "nosuch" in status.error and "nosuch" in status.text


def test_invalid_options_are_refused_before_anything_starts(
    tiny_master: Path, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs"
    with pytest.raises(ConfigError, match=r"sampling\.policy"):
        start_replays(
            ReplayRequest(
                dataset=str(tiny_master),
                ledger=str(tmp_path / "l.duckdb"),
                config={"sampling": {"policy": 3}},
            ),
            jobs_dir=jobs,
        )
    with pytest.raises(FileNotFoundError, match="manifest"):
        start_replays(ReplayRequest(dataset=str(tmp_path), ledger="l.duckdb"), jobs_dir=jobs)
    assert not jobs.exists()


def test_a_runner_that_died_is_reported_lost(tmp_path: Path) -> None:
    folder = tmp_path / "jobs" / "dead"
    folder.mkdir(parents=True)
    job = Job(
        job_id="dead",
        folder=str(folder),
        label="x",
        ledger=str(tmp_path / "l.duckdb"),
        dataset=str(tmp_path),
        paced=None,
        created_at="2026-01-01T00:00:00+00:00",
        steps=(),
    )
    (folder / "job.json").write_text(json.dumps(asdict(job)))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (folder / "runner.pid").write_text(gone.stdout.strip())
    assert job_status(job).state == "lost"


def test_thresholds_parse_and_options_round_trip_through_toml() -> None:
    assert parse_thresholds("0.1, 0.3 0.1,1") == (0.1, 0.3, 1.0)
    assert parse_thresholds("") == ()
    with pytest.raises(ValueError, match="outside"):
        parse_thresholds("1.5")
    with pytest.raises(ValueError, match="not a number"):
        parse_thresholds("0.3 x")
    tables = {
        "sampling": {"policy": "voice_activity"},
        "routing": {"explore_share": 0.25},
        "llm": {"cheap": "local:extractive-1", "premium": 'openai:gpt-4o "x"'},
    }
    config = config_from_dict(tomllib.loads(toml_text(tables)))
    assert config.sampling.policy == "voice_activity"
    assert config.routing.explore_share == 0.25
    assert config.llm.premium == 'openai:gpt-4o "x"'


def test_read_progress_skips_a_line_being_written(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    assert read_progress(path) is None
    path.write_text(
        '{"run_id": "r", "media_s": 2.5, "duration_s": 10.0, "status": "running"}\n{"run_id": "r", "med'
    )
    progress = read_progress(path)
    assert progress is not None and progress.media_s == 2.5 and progress.fraction == 0.25


def test_a_job_config_is_built_once_and_round_trips_through_its_toml(tmp_path: Path) -> None:
    import dataclasses

    from assistant.core.config import Config, PricingConfig, config_from_options, load_config
    from assistant.jobs.spec import job_config

    request = ReplayRequest(
        dataset="d", ledger="l", stt="recorded", config={"sampling": {"policy": "change"}}
    )
    config = job_config(request)
    assert config.stt.provider == "recorded:" and config.sampling.policy == "change"
    odd = dataclasses.replace(
        config,
        pricing=PricingConfig(overrides={"openai:gpt-4o": {"input_usd_per_mtok": 0.15}}),
        llm=dataclasses.replace(config.llm, premium='x:é😀 "q"\x7f\n'),
    )
    path = tmp_path / "config.toml"
    path.write_text(odd.to_toml(), encoding="utf-8")
    assert load_config(path) == odd
    assert load_config(path).digest() == odd.digest()
    assert config_from_options(path, threshold=0.7).routing.threshold == 0.7
    assert config_from_options(None) == Config()
    with pytest.raises(ValueError, match="not both"):
        config_from_options(path, tables={"sampling": {"policy": "change"}})
    with pytest.raises(ConfigError, match="the chosen options"):
        job_config(dataclasses.replace(request, config={"routing": {"explore_share": 2.0}}))
