"""Read side of spend per participant (Costs page) and the OTLP receiver the Live room page
starts and stops: a background ``python -m assistant otel-receive`` process (its own session, so
it outlives a page rerun and never blocks one), with its pid and JSON status in a folder under
the jobs folder. No Streamlit import."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from assistant.core.errors import LedgerError
from assistant.core.paths import ROOT
from assistant.views.result import ErrorKind, View, ledger_error, ledger_exists, reading
from assistant.views.workbench import ALL_TENANTS, EMPTY_HINT

TOKEN_ENV = "WORKBENCH_OTEL_TOKEN"


def read_participant_spend(ledger_path: str | Path, tenant: str | None = None) -> View[Any]:
    """Spend per participant (who asked) within each tenant, and per tenant: ``participants``
    (tenant, participant, requests, calls, cost_usd, share of the tenant) and ``tenants``."""
    from assistant.ledger.queries import cost_by_participant

    if not ledger_exists(ledger_path):
        return View.fail(
            ErrorKind.MISSING, f"Ledger {ledger_path} does not exist yet. {EMPTY_HINT}"
        )
    scope = tenant if tenant and tenant != ALL_TENANTS else None
    try:
        with reading(ledger_path) as ledger:
            frame = cost_by_participant(ledger, scope)
    except LedgerError as exc:
        return ledger_error(exc)
    if frame.empty:
        return View.fail(ErrorKind.EMPTY, "No calls yet, so no spend per participant.")
    tenants = (
        frame.groupby("tenant", as_index=False)
        .agg(requests=("requests", "sum"), calls=("calls", "sum"), cost_usd=("cost_usd", "sum"))
        .sort_values(["cost_usd", "tenant"], ascending=[False, True], ignore_index=True)
    )
    return View({"participants": frame, "tenants": tenants})


def receiver_dir() -> Path:
    """``$WORKBENCH_JOBS/otel-receiver`` (default ``<tmp>/workbench-jobs/otel-receiver``)."""
    from assistant.jobs.runner import default_jobs_dir

    return default_jobs_dir() / "otel-receiver"


def _pid(folder: Path) -> int | None:
    try:
        return int((folder / "receiver.pid").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z" and "otel-receive" in cmdline


def receiver_status(folder: Path | None = None) -> dict[str, Any]:
    """``running`` (bool), ``pid``, the receiver's last JSON status and the tail of its log."""
    folder = folder or receiver_dir()
    pid = _pid(folder)
    running = pid is not None and _alive(pid)
    try:
        status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {}
    try:
        log = (folder / "receiver.log").read_text(encoding="utf-8", errors="replace")[-2000:]
    except OSError:
        log = ""
    return {"running": running, "pid": pid if running else None, "status": status, "log": log}


def start_receiver(
    ledger_path: str | Path,
    *,
    port: int = 4318,
    host: str = "127.0.0.1",
    token: str | None = None,
    tenant: str = "otel",
    folder: Path | None = None,
    python: str | None = None,
) -> dict[str, Any]:
    """Start ``otel-receive`` in the background (refused while one is running); its status."""
    folder = folder or receiver_dir()
    current = receiver_status(folder)
    if current["running"]:
        raise LedgerError(
            f"an OTLP receiver is already running (pid {current['pid']}): stop it first"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "status.json").unlink(missing_ok=True)
    env = {**os.environ}
    if token:
        env[TOKEN_ENV] = token  # never on the command line
    else:
        env.pop(TOKEN_ENV, None)
    command = [
        python or sys.executable, "-m", "assistant", "otel-receive",
        "--ledger", str(Path(ledger_path).resolve()), "--host", host, "--port", str(port),
        "--tenant", tenant, "--status-file", str(folder / "status.json"),
    ]  # fmt: skip
    with open(folder / "receiver.log", "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    (folder / "receiver.pid").write_text(str(process.pid), encoding="utf-8")
    return receiver_status(folder)


def stop_receiver(folder: Path | None = None) -> bool:
    """SIGTERM to the receiver this folder started (it writes what it accepted, then exits)."""
    folder = folder or receiver_dir()
    pid = _pid(folder)
    if pid is None or not _alive(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True
