"""Replays in the background, for the Replay and Live room pages (no Streamlit import).

A *job* is one or more ``python -m assistant replay ... --progress-file F --quiet`` runs, one after
another (several thresholds = several runs). The page starts a small runner process,
``python -m assistant.jobs.runner run FOLDER``, in its own session, so the replays survive Streamlit
reruns, page reloads and even a restart of the app. Everything about a job lives in its folder::

    job.json              what to run (written by the page before the runner starts)
    state.json            the runner's state: current step, return codes, final state
    step-N.progress.jsonl the replay's --progress-file ({run_id, media_s, duration_s, status})
    step-N.log            the replay's stderr (with --quiet: only notices and errors)
    config.toml           options the CLI has no flag for (sampler, exploration, providers)

Stopping sends SIGTERM to the runner, which forwards it once to the replay running: the replay
ends as ``interrupted`` and keeps its flushed rows; the steps not started are skipped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.core.paths import ROOT

DONE = ("finished", "failed", "interrupted")
JOB_STATES = ("starting", "running", *DONE, "lost")
RUN_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,89}")  # replay's run-id rule, room for -t0.30


def default_jobs_dir() -> Path:
    """Where job folders go: ``$WORKBENCH_JOBS`` or ``<tmp>/workbench-jobs``."""
    return Path(os.environ.get("WORKBENCH_JOBS") or Path(tempfile.gettempdir()) / "workbench-jobs")


# -- what to run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What the user chose on a page: one dataset, one or more thresholds, shared options.

    ``config`` holds TOML tables for options without a CLI flag (``{"sampling": {"policy":
    "change"}}``); it is validated, written to the job's ``config.toml`` and passed as
    ``--config``. ``thresholds`` empty means one run at the configuration's threshold.
    """

    dataset: str
    ledger: str
    thresholds: tuple[float, ...] = ()
    stt: str | None = None
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    both_tiers: bool = False
    paced: float | None = None
    run_prefix: str | None = None
    label: str = ""


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
class Progress:
    """The last line of a step's progress file; ``status`` ``pending`` before the step starts,
    ``starting`` while the replay loads (no line yet)."""

    run_id: str | None
    media_s: float
    duration_s: float | None
    status: str

    @property
    def fraction(self) -> float:
        if self.status == "finished":
            return 1.0
        if not self.duration_s:
            return 0.0
        return max(0.0, min(1.0, self.media_s / self.duration_s))


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


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"0.1, 0.3 0.5"`` -> ``(0.1, 0.3, 0.5)``; ValueError with what is wrong."""
    values: list[float] = []
    for part in text.replace(",", " ").split():
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a number: give thresholds like 0.1, 0.3") from None
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold {value} is outside [0, 1]")
        if value not in values:
            values.append(value)
    return tuple(values)


def toml_text(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """A TOML document of flat tables with string, number and boolean values."""
    lines: list[str] = []
    for table, values in tables.items():
        if not values:
            continue
        lines.append(f"[{table}]")
        for key, value in values.items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float):
                text = repr(value)
            elif isinstance(value, str):
                text = json.dumps(value)  # a JSON string is a valid TOML basic string
            else:
                raise TypeError(f"{table}.{key}: cannot write {type(value).__name__} to TOML")
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


def check_config(tables: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise ConfigError (what to fix) if ``tables`` is not a valid configuration."""
    from assistant.core.config import config_from_dict

    config_from_dict({k: dict(v) for k, v in tables.items() if v}, where="the chosen options")


def replay_request(
    *,
    dataset: str,
    ledger: str,
    thresholds: str = "",
    stt: str | None = None,
    policy: str | None = None,
    explore_share: float | None = None,
    vision: tuple[str, str] | None = None,
    llm: tuple[str, str] | None = None,
    both_tiers: bool = False,
    paced: float | None = None,
    run_prefix: str = "",
) -> ReplayRequest:
    """A request from a page's choices; options equal to the defaults are left out of the config.

    ``thresholds`` is text (``"0.2, 0.4"``); ``vision`` and ``llm`` are ``(cheap, premium)``
    ``"provider:model"`` specs. Raises ValueError or ConfigError saying what to fix."""
    from assistant.core.config import Config

    default = Config()
    tables: dict[str, dict[str, Any]] = {}
    if policy and policy != default.sampling.policy:
        tables["sampling"] = {"policy": policy}
    if explore_share is not None and explore_share != default.routing.explore_share:
        tables["routing"] = {"explore_share": float(explore_share)}
    for name, chosen, base in (("vision", vision, default.vision), ("llm", llm, default.llm)):
        if chosen is None:
            continue
        cheap, premium = (c.strip() for c in chosen)
        changed = {
            k: v for k, v in (("cheap", cheap), ("premium", premium)) if v != getattr(base, k)
        }
        if changed:
            tables[name] = changed
    if tables:
        check_config(tables)
    prefix = run_prefix.strip() or None
    if prefix is not None and not RUN_PREFIX.fullmatch(prefix):
        raise ValueError(f"run id {prefix!r} is not valid: use letters, digits, '.', '_' and '-'")
    return ReplayRequest(
        dataset=dataset,
        ledger=ledger,
        thresholds=parse_thresholds(thresholds),
        stt=stt or None,
        config=tables,
        both_tiers=both_tiers,
        paced=paced,
        run_prefix=prefix,
    )


def _run_ids(request: ReplayRequest, name: str) -> list[tuple[str, float | None]]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    prefix = request.run_prefix or f"{name}-{stamp}"
    if not request.thresholds:
        return [(prefix, None)]
    return [(f"{prefix}-t{t:.2f}", t) for t in request.thresholds]


def _dataset_name(dataset: Path) -> str:
    import tomllib

    manifest = dataset / "manifest.toml" if dataset.is_dir() else dataset
    try:
        name = tomllib.loads(manifest.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError):
        name = None
    return name if isinstance(name, str) and name else dataset.stem


def replay_argv(
    *,
    python: str,
    dataset: str,
    ledger: str,
    run_id: str,
    progress_file: str,
    threshold: float | None = None,
    stt: str | None = None,
    config_file: str | None = None,
    both_tiers: bool = False,
    paced: float | None = None,
) -> tuple[str, ...]:
    """The replay command line a step runs."""
    argv = [python, "-m", "assistant", "replay", dataset, "--ledger", ledger]
    argv += ["--run-id", run_id, "--progress-file", progress_file, "--quiet"]
    if threshold is not None:
        argv += ["--threshold", repr(threshold)]
    if stt:
        argv += ["--stt", stt]
    if config_file:
        argv += ["--config", config_file]
    if both_tiers:
        argv.append("--both-tiers")
    if paced is not None:
        argv += ["--paced", repr(paced)]
    return tuple(argv)


def start_replays(
    request: ReplayRequest, *, jobs_dir: str | Path | None = None, python: str | None = None
) -> Job:
    """Write the job's folder and start its runner in the background; returns at once.

    Raises ConfigError (from :func:`check_config`) before anything starts when the options
    are invalid, and FileNotFoundError when the dataset has no manifest."""
    dataset = Path(request.dataset).expanduser().resolve()
    manifest = dataset / "manifest.toml" if dataset.is_dir() else dataset
    if not manifest.is_file():
        raise FileNotFoundError(f"{request.dataset}: no manifest.toml there; pick a dataset folder")
    if request.config:
        check_config(request.config)
    ledger = str(Path(request.ledger).expanduser().resolve())
    job_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    folder = Path(jobs_dir or default_jobs_dir()) / job_id
    folder.mkdir(parents=True)
    config_file = None
    if request.config:
        config_file = str(folder / "config.toml")
        Path(config_file).write_text(toml_text(request.config), encoding="utf-8")
    python = python or sys.executable
    steps = []
    for i, (run_id, threshold) in enumerate(_run_ids(request, _dataset_name(dataset))):
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
                    threshold=threshold,
                    stt=request.stt,
                    config_file=config_file,
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
        label=request.label or _dataset_name(dataset),
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


def read_progress(path: str | Path) -> Progress | None:
    """The last complete line of a progress file, or None when there is none yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    for line in reversed(text.splitlines()):
        try:
            data = json.loads(line)
            return Progress(
                run_id=data.get("run_id"),
                media_s=float(data.get("media_s") or 0.0),
                duration_s=float(data["duration_s"]) if data.get("duration_s") else None,
                status=str(data.get("status") or "running"),
            )
        except (ValueError, TypeError, AttributeError):
            continue  # a line being written
    return None


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
