"""The Streamlit app starts from app.py and shows the runs, on an empty and on a filled ledger."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assistant.core.config import Config
from assistant.ledger import Ledger
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views.workbench import provider_keys, read_runs

ROOT = Path(__file__).resolve().parent.parent


def _app(ledger: Path) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(ledger)
    return app.run()


def test_empty_ledger_tells_what_to_do(tmp_path: Path) -> None:
    app = _app(tmp_path / "none.duckdb")
    assert not app.exception
    assert any("python -m assistant replay datasets/demo" in i.value for i in app.info)


def test_runs_page_shows_a_replayed_run(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-shown")
    ledger_path = tmp_path / "l.duckdb"
    config = Config()
    config = dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider="recorded:"))
    with Ledger(ledger_path) as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=config, run_id="shown-run")
    app = _app(ledger_path)
    assert not app.exception
    assert app.title[0].value == "Runs"
    assert app.selectbox[0].value == "shown-run"
    labels = [m.label for m in app.metric]
    assert labels == [
        "Requests",
        "Premium share",
        "Cost / media hour",
        "p95 latency",
        "Mean quality",
    ]
    assert app.metric[0].value == "3"
    # the runs, the run's requests, and the parts of a screen reading (with their positions)
    assert len(app.dataframe) == 3
    sidebar = " ".join(m.value for m in app.sidebar.markdown)
    assert "OpenAI" in sidebar and "sk-test-not-shown" not in sidebar


def test_provider_keys_never_exposes_values() -> None:
    status = provider_keys({"OPENAI_API_KEY": "secret", "LIVEKIT_URL": "ws://x"})
    assert status == {
        "OpenAI": True,
        "Anthropic": False,
        "Google GenAI": False,
        "Deepgram": False,
        "LiveKit": False,
    }  # LiveKit needs all three variables


def test_provider_keys_look_where_the_adapters_look(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable in ("OPENAI_API_KEY", "DEEPGRAM_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    assert not provider_keys()["Deepgram"]
    (tmp_path / ".env").write_text("DEEPGRAM_API_KEY=dg-not-shown\n")
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('OPENAI_API_KEY = "sk-not-shown"\n')
    status = provider_keys()
    assert status["Deepgram"] and status["OpenAI"] and not status["Anthropic"]


def test_tenant_filter(tiny: Path, tmp_path: Path) -> None:
    ledger_path = tmp_path / "l.duckdb"
    config = Config()
    config = dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider="recorded:"))
    with Ledger(ledger_path) as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=config, run_id="acme-run")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(ledger_path)
    app.run()
    assert app.sidebar.selectbox[0].options == ["All tenants", "acme"]
    app.sidebar.selectbox[0].select("acme").run()
    assert not app.exception and app.selectbox[0].value == "acme-run"
    assert read_runs(ledger_path, "other").data is None
    assert "other" in (read_runs(ledger_path, "other").message or "")
