"""Default paths, in one place: the ledger file and the folders that ship with the repository."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_LEDGER = "workbench.duckdb"
ROOT = Path(__file__).resolve().parents[2]  # the repository (app.py, datasets/, pages/)
DATASETS_DIR = ROOT / "datasets"
DEMO_DATASET = DATASETS_DIR / "demo"
ROUTELLM_DIR = DATASETS_DIR / "routellm"


def default_ledger() -> str:
    """The ledger file: ``$WORKBENCH_LEDGER``, else ``workbench.duckdb`` in the working directory."""
    return os.environ.get("WORKBENCH_LEDGER", DEFAULT_LEDGER)
