"""``scripts/workbench`` as a new user runs it (issue 20, items 3 and 13).

The script runs for real, with a stand-in virtual environment: ``bin/python`` is this test's
interpreter, ``bin/streamlit`` a stub that records its arguments instead of serving. The first
start fills the ledger so that every page has something to show (a replay, and a ``--both-tiers``
replay for the Routing lab), a second start adds nothing, and the app binds loopback unless told
otherwise.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from assistant.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]


def _fake_venv(folder: Path) -> Path:
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "streamlit").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > "{folder}/streamlit-args"\n'
    )
    for name in ("python", "streamlit"):
        (bin_dir / name).chmod(0o755)
    requirements = (ROOT / "requirements.txt").read_bytes()
    digest = hashlib.sha256(requirements + requirements).hexdigest()[:16]
    (folder / ".installed-requirements.txt").write_text(digest + "\n")  # nothing to install
    return folder


def _start(venv: Path, ledger: Path, demo: Path, **extra: str) -> tuple[list[str], str]:
    env = {
        **os.environ,
        "WORKBENCH_VENV": str(venv),
        "WORKBENCH_LEDGER": str(ledger),
        "WORKBENCH_DEMO": str(demo),
        "HF_HUB_OFFLINE": "1",
        **extra,
    }
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "workbench")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return (venv / "streamlit-args").read_text().splitlines(), done.stderr


def _runs(ledger: Path) -> list[tuple[str, str, bool]]:
    with Ledger(ledger, read_only=True) as held:
        return [
            (str(r[0]), str(r[1]), bool(r[2]))
            for r in held.cursor()
            .execute(
                "SELECT run_id, status, run_id IN (SELECT DISTINCT run_id FROM tier_outcomes) "
                "FROM runs ORDER BY started_at"
            )
            .fetchall()
        ]


def test_first_start_fills_every_page_and_binds_loopback(tiny_master: Path, tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "venv")
    demo = Path(shutil.copytree(tiny_master, tmp_path / "tiny"))
    ledger = tmp_path / "workbench.duckdb"

    args, _ = _start(venv, ledger, demo)
    address = args[args.index("--server.address") + 1]
    assert address == "127.0.0.1"  # not every interface: the app has no login
    runs = _runs(ledger)
    assert [status for _, status, _ in runs] == ["finished", "finished"]
    assert [both for _, _, both in runs] == [False, True]  # the Routing lab has its run

    args, err = _start(venv, ledger, demo, WORKBENCH_ADDRESS="0.0.0.0")
    assert args[args.index("--server.address") + 1] == "0.0.0.0"  # overridable, on purpose
    assert _runs(ledger) == runs  # a second start replays nothing
    assert "already holds a finished both-tiers run of tiny" in err
