"""Helpers for tests of the ledger across processes: a holder process, and run contents compared."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
_HOLD = (
    "import sys\n"
    "from assistant.ledger import Ledger\n"
    "ledger = Ledger(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
    "ledger.close()\n"
)


def env() -> dict[str, str]:
    """The environment for a workbench subprocess: this checkout, offline."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


@contextmanager
def held_by_another_process(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds ``path`` open for writing (as the workbench does) until exit."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=30)


def run_contents(ledger: Ledger, run_id: str) -> dict[str, Any]:
    """What a run recorded, without ids, wall-clock times or latencies (which differ per run)."""
    cur = ledger.cursor()

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in cur.execute(sql, [run_id]).fetchall()]

    return {
        "requests": rows(
            "SELECT question_id, media_t_s, tier, status, answer, round(score, 9) FROM requests "
            "WHERE run_id = ? ORDER BY media_t_s, question_id"
        ),
        "frames": rows(
            "SELECT media_t_s, reason, frame_hash FROM frames WHERE run_id = ? "
            "ORDER BY media_t_s, reason"
        ),
        "utterances": rows(
            "SELECT participant, start_s, end_s, text FROM utterances WHERE run_id = ? "
            "ORDER BY start_s, participant"
        ),
        "calls": rows(
            "SELECT stage, provider, media_t_s, request_id IS NULL FROM calls WHERE run_id = ? "
            "ORDER BY stage, media_t_s, provider"
        ),
        "duplicate_call_ids": rows(
            "SELECT call_id FROM calls WHERE run_id = ? GROUP BY call_id HAVING count(*) > 1"
        ),
    }

