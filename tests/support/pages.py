"""Shared by the page tests (Replay, Live room, Rooms, browser): one replayed demo per session.

A module-level cache (not a conftest fixture) so every test file that asks for the demo ledger
gets the same file: the demo replays once per test session (~15 s with the recorded transcript).
Each test module wraps :func:`demo_ledger` in its own session fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assistant.ledger import Ledger
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from support.configs import recorded_config

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "datasets" / "demo"
DEMO_RUN = "demo-run"
_built: dict[str, Path] = {}


def demo_ledger(factory: pytest.TempPathFactory) -> Path:
    """A ledger holding one finished replay of datasets/demo (recorded transcript, threshold 0.3).

    Read it only: several test files share it."""
    if "demo" not in _built:
        path = factory.mktemp("demo-ledger") / "demo.duckdb"
        with Ledger(path) as ledger:
            replay(load_dataset(DEMO), ledger=ledger, config=recorded_config(0.3), run_id=DEMO_RUN)
        _built["demo"] = path
    return _built["demo"]


def open_page(ledger: Path, page: str, *, state: dict[str, object] | None = None) -> AppTest:
    """app.py, then ``page`` (e.g. ``pages/rooms.py``), with the sidebar's ledger set."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(ledger)
    for key, value in (state or {}).items():
        app.session_state[key] = value
    app.run()
    app.switch_page(page)
    return app.run()
