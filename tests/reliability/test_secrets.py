"""Keys never leave the process: not in the ledger, not in logs, not on the console, not in exports.

A replay runs with recognisable fake keys set for every vendor, its premium tier on an
OpenAI-compatible server (a local fake) that rejects one request with an error body echoing the key
it was sent. Every output is then scanned for every key.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import duckdb
import pytest
from support.fakes.vendors import FakeVendors, Reply

from assistant.cli.registry import main
from assistant.core.config import Config
from assistant.ledger import Ledger
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

SECRETS = {
    "OPENAI_API_KEY": "sk-test-SECRET-openai-1111",
    "ANTHROPIC_API_KEY": "sk-ant-test-SECRET-2222",
    "GOOGLE_API_KEY": "AIza-test-SECRET-3333",
    "DEEPGRAM_API_KEY": "dg-test-SECRET-4444",
    "LIVEKIT_API_SECRET": "lk-test-SECRET-5555-long-enough-for-hs256",
    "OPENAI_COMPATIBLE_API_KEY": "oc-test-SECRET-6666",
}


def test_no_key_in_ledger_logs_console_or_exports(
    tiny: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:9")
    monkeypatch.setenv("LIVEKIT_API_KEY", "devkey")
    caplog.set_level(logging.DEBUG)
    config = Config().with_threshold(0.0)  # everything premium: the fake server answers
    config = dataclasses.replace(
        config,
        stt=dataclasses.replace(config.stt, provider="recorded:"),
        llm=dataclasses.replace(config.llm, premium="openai-compatible:fake-model"),
    )
    ledger_path = tmp_path / "ledger.duckdb"
    with FakeVendors() as fake:
        monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", fake.openai_url)
        fake.push("openai", Reply.answer(), Reply.bad_key(), Reply.answer())
        with Ledger(ledger_path) as ledger:
            replay(load_dataset(tiny), ledger=ledger, config=config, run_id="secrets", notice=print)
        assert any(
            SECRETS["OPENAI_COMPATIBLE_API_KEY"] in r.headers.get("authorization", "")
            for r in fake.requests
        )  # the key was really used...
    # ...and the rejected request is recorded, with its error, and answered by the cheap tier
    con = duckdb.connect(str(ledger_path), read_only=True)
    rows = con.execute("SELECT status, error FROM requests").fetchall()
    assert any(status == "fallback" and "401" in (error or "") for status, error in rows)
    dumps = []
    for (table,) in con.execute("SHOW TABLES").fetchall():
        rows = con.execute(f'SELECT CAST(COLUMNS(*) AS VARCHAR) FROM "{table}"').fetchall()
        dumps.append(repr(rows))
    exports = tmp_path / "exports"
    exports.mkdir()
    con.execute(f"COPY requests TO '{exports / 'requests.csv'}' (HEADER)")
    con.execute(f"COPY calls TO '{exports / 'calls.parquet'}' (FORMAT parquet)")
    con.close()
    assert main(["runs", "--ledger", str(ledger_path)]) == 0
    assert main(["token", "--tenant", "acme", "--room", "standup", "--identity", "alice"]) == 0
    assert main(["rooms", "list", "--tenant", "acme"]) == 2  # nothing listens on port 9
    console = capsys.readouterr()
    outputs = {
        "ledger": "\n".join(dumps),
        "logs": caplog.text,
        "console": console.out + console.err,
        **{f.name: f.read_bytes().decode("latin-1") for f in exports.iterdir()},
    }
    for where, text in outputs.items():
        for name, secret in SECRETS.items():
            assert secret not in text, f"{name} leaked into {where}"
