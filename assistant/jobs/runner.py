"""Replays in the background, for the Replay and Live room pages (no Streamlit import).

A *job* is one or more ``python -m assistant replay ... --progress-file F --quiet`` runs, one after
another (several thresholds = several runs; what they run is ``jobs.spec``). The page starts a
small runner process, ``python -m assistant.jobs.runner run FOLDER``, in its own session, so the replays survive Streamlit
reruns, page reloads and even a restart of the app. Everything about a job lives in its folder::

    job.json              what to run (written by the page before the runner starts)
    state.json            the runner's state: current step, return codes, final state
    step-N.progress.jsonl the replay's --progress-file (``jobs.progress``)
    step-N.log            the replay's stderr (with --quiet: only notices and errors)
    config.toml           the job's configuration, validated once (``jobs.spec.job_config``)

Stopping sends SIGTERM to the runner, which forwards it once to the replay running: the replay
ends as ``interrupted`` and keeps its flushed rows; the steps not started are skipped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.core.paths import ROOT
from assistant.jobs.progress import Progress, read_progress
from assistant.jobs.spec import (
    ReplayRequest,
    dataset_name,
    job_config,
    parse_thresholds,
    replay_argv,
    replay_request,
    run_ids,
)

__all__ = [  # what pages and tests use: the spec's and the progress format's names come along
    "DONE",
    "JOB_STATES",
    "Job",
    "JobStatus",
    "Progress",
    "ReplayRequest",
    "Step",
    "default_jobs_dir",
    "job_status",
    "list_jobs",
    "load_job",
    "main",
    "parse_thresholds",
    "read_progress",
    "replay_request",
    "run_job",
    "start_replays",
    "stop_job",
    "wait_job",
]

DONE = ("finished", "failed", "interrupted")
JOB_STATES = ("starting", "running", *DONE, "lost")
def default_jobs_dir() -> Path:
    """Where job folders go: ``$WORKBENCH_JOBS`` or ``<tmp>/workbench-jobs``."""
    return Path(os.environ.get("WORKBENCH_JOBS") or Path(tempfile.gettempdir()) / "workbench-jobs")


# -- what to run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    run_id: str
    threshold: float | None
    argv: tuple[str, ...]
    progress_file: str
    log_file: str


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    folder: str
    label: str
    ledger: str
    dataset: str
    paced: float | None
    created_at: str  # ISO 8601, UTC
    steps: tuple[Step, ...]

    @property
    def run_ids(self) -> list[str]:
        return [s.run_id for s in self.steps]


@dataclass(frozen=True, slots=True)
class JobStatus:
    job: Job
    state: str  # one of JOB_STATES
    current: int  # index of the step running, or of the last one that ran
    steps: tuple[Progress, ...]
    error: str | None  # the failing replay's last error line

    @property
    def done(self) -> bool:
        return self.state in DONE or self.state == "lost"

    @property
    def fraction(self) -> float:
        """Share of the whole job done (every step counts the same)."""
        if not self.steps:
            return 0.0
        return sum(p.fraction for p in self.steps) / len(self.steps)

    @property
    def text(self) -> str:
        """One line for the page: which run, how far, what happened."""
        step = self.steps[self.current]
        run = self.job.steps[self.current].run_id
        where = f"run {self.current + 1} of {len(self.steps)}, " if len(self.steps) > 1 else ""
        if self.state in ("starting", "running"):
            if step.status in ("pending", "starting"):
                return f"{where}{run}: loading the dataset and models…"
            total = f" of {step.duration_s:.0f} s" if step.duration_s else ""
            return f"{where}{run}: {step.media_s:.0f} s{total} replayed"
        if self.state == "finished":
            return f"finished: {', '.join(self.job.run_ids)}"
        if self.state == "interrupted":
            return f"stopped during {run}: the run is marked interrupted, flushed rows are kept"
        if self.state == "lost":
            return "the runner process is gone (killed?): its runs may be marked failed or running"
        return f"{run} failed: {self.error or 'see ' + self.job.steps[self.current].log_file}"


def start_replays(
    request: ReplayRequest, *, jobs_dir: str | Path | None = None, python: str | None = None
) -> Job:
    """Write the job's folder and start its runner in the background; returns at once.

    Raises ConfigError (from :func:`jobs.spec.job_config`) before anything starts when the
    options are invalid, and FileNotFoundError when the dataset has no manifest."""
    config = job_config(request)
    dataset = Path(request.dataset).expanduser().resolve()
    manifest = dataset / "manifest.toml" if dataset.is_dir() else dataset
    if not manifest.is_file():
        raise FileNotFoundError(f"{request.dataset}: no manifest.toml there; pick a dataset folder")
    ledger = str(Path(request.ledger).expanduser().resolve())
    job_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    folder = Path(jobs_dir or default_jobs_dir()) / job_id
    folder.mkdir(parents=True)
    config_file = str(folder / "config.toml")
    Path(config_file).write_text(config.to_toml(), encoding="utf-8")
    python = python or sys.executable
    name = dataset_name(dataset)
    steps = []
    for i, (run_id, threshold) in enumerate(run_ids(request, name)):
        progress_file = str(folder / f"step-{i}.progress.jsonl")
        steps.append(
            Step(
                run_id=run_id,
                threshold=threshold,
                argv=replay_argv(
                    python=python,
                    dataset=str(dataset),
                    ledger=ledger,
                    run_id=run_id,
                    progress_file=progress_file,
                    config_file=config_file,
                    threshold=threshold,
                    both_tiers=request.both_tiers,
                    paced=request.paced,
                ),
                progress_file=progress_file,
                log_file=str(folder / f"step-{i}.log"),
            )
        )
    job = Job(
        job_id=job_id,
        folder=str(folder),
        label=request.label or name,
        ledger=ledger,
        dataset=str(dataset),
        paced=request.paced,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        steps=tuple(steps),
    )
    (folder / "job.json").write_text(json.dumps(asdict(job), indent=2), encoding="utf-8")
    _write_state(folder, {"state": "starting", "current": 0, "returncodes": []})
    with open(folder / "runner.log", "ab") as log:
        runner = subprocess.Popen(
            [python, "-m", "assistant.jobs.runner", "run", str(folder)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: outlives the app, no Ctrl-C from it
        )
    (folder / "runner.pid").write_text(str(runner.pid), encoding="utf-8")
    return job


# -- reading a job back ------------------------------------------------------------------------


def load_job(folder: str | Path) -> Job:
    data = json.loads((Path(folder) / "job.json").read_text(encoding="utf-8"))
    data["steps"] = tuple(Step(**{**s, "argv": tuple(s["argv"])}) for s in data["steps"])
    return Job(**data)


def list_jobs(jobs_dir: str | Path | None = None, *, ledger: str | None = None) -> list[Job]:
    """Jobs in ``jobs_dir``, newest first; with ``ledger``, only those writing to that file."""
    root = Path(jobs_dir or default_jobs_dir())
    if not root.is_dir():
        return []
    wanted = str(Path(ledger).expanduser().resolve()) if ledger else None
    jobs = []
    for folder in sorted(root.iterdir(), reverse=True):
        try:
            job = load_job(folder)
        except (OSError, ValueError, TypeError, KeyError):
            continue  # a folder being written, or not a job
        if wanted is None or job.ledger == wanted:
            jobs.append(job)
    return jobs


def _read_state(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": "starting", "current": 0, "returncodes": []}
    return data if isinstance(data, dict) else {}


def _write_state(folder: Path, state: dict[str, Any]) -> None:
    tmp = folder / "state.json.tmp"
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, folder / "state.json")


def _runner_pid(job: Job) -> int | None:
    try:
        return int((Path(job.folder) / "runner.pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _alive(pid: int, folder: str) -> bool:
    """Is ``pid`` still the runner of ``folder``? (Reaps it when it is this process's child.)"""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass  # started by another process (an earlier app): look it up
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] != "Z" and folder in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_error(log_file: str) -> str | None:
    try:
        lines = Path(log_file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    errors = [line for line in lines if line.startswith("error:")]
    pick = errors[-1] if errors else next((line for line in reversed(lines) if line.strip()), None)
    return pick.strip()[:500] if pick else None


def job_status(job: Job) -> JobStatus:
    """Where ``job`` is: each step's progress and the job's state."""
    folder = Path(job.folder)
    state = _read_state(folder)
    current = min(int(state.get("current", 0)), len(job.steps) - 1)
    codes = list(state.get("returncodes", []))
    steps = []
    for i, step in enumerate(job.steps):
        progress = read_progress(step.progress_file)
        if progress is None:
            if i < len(codes):
                status = "finished" if codes[i] == 0 else "failed"
            else:
                status = "pending" if i > current else "starting"
            progress = Progress(step.run_id, 0.0, None, status)
        elif progress.status == "running" and i < len(codes):
            progress = Progress(progress.run_id, progress.media_s, progress.duration_s, "failed")
        steps.append(progress)
    final = state.get("state")
    if final in DONE:
        verdict = str(final)
    else:
        pid = _runner_pid(job)
        alive = pid is not None and _alive(pid, job.folder)
        if alive:
            verdict = "running" if any(p.status == "running" for p in steps) else "starting"
        else:
            final = _read_state(folder).get("state")  # it may have finished just now
            verdict = str(final) if final in DONE else "lost"
    error = None
    if verdict == "failed":
        error = _last_error(job.steps[current].log_file)
    return JobStatus(job=job, state=verdict, current=current, steps=tuple(steps), error=error)


def stop_job(job: Job) -> bool:
    """Ask the job to stop (SIGTERM to its runner, which forwards it to the replay running).

    Returns False when the runner was no longer running."""
    pid = _runner_pid(job)
    if pid is None or not _alive(pid, job.folder):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def wait_job(job: Job, *, timeout_s: float = 600.0, poll_s: float = 0.2) -> JobStatus:
    """Poll until the job is done (or ``timeout_s`` passed: then the last status)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = job_status(job)
        if status.done or time.monotonic() >= deadline:
            return status
        time.sleep(poll_s)


# -- the runner --------------------------------------------------------------------------------


def run_job(folder: str | Path) -> int:
    """Run a job's steps one after another (the body of ``python -m assistant.jobs.runner run``)."""
    folder = Path(folder)
    job = load_job(folder)
    stopping = forwarded = False
    child: subprocess.Popen[bytes] | None = None

    def forward() -> None:
        nonlocal forwarded
        if not forwarded and child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)  # once: a second one would cut its clean-up short
            forwarded = True

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        forward()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    codes: list[int] = []
    verdict = "finished"
    for i, step in enumerate(job.steps):
        if stopping:
            verdict = "interrupted"
            break
        _write_state(folder, {"state": "running", "current": i, "returncodes": codes})
        with open(step.log_file, "ab") as log:
            forwarded = False
            child = subprocess.Popen(
                list(step.argv), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
            if stopping:  # the signal came while the replay was being started
                forward()
            code = child.wait()
        codes.append(code)
        progress = read_progress(step.progress_file)
        if stopping or (progress is not None and progress.status == "interrupted"):
            verdict = "interrupted"
            break
        if code != 0:
            verdict = "failed"
            break
    current = max(0, min(len(codes), len(job.steps)) - 1) if codes else 0
    _write_state(folder, {"state": verdict, "current": current, "returncodes": codes})
    return 0 if verdict == "finished" else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "run":
        print("usage: python -m assistant.jobs.runner run JOB_FOLDER", file=sys.stderr)
        return 2
    return run_job(args[1])


if __name__ == "__main__":
    raise SystemExit(main())
