"""Probes, as a hostile or careless user would send them (issue 20): one table, one row each.

A row is a command line against a ledger that already holds a finished run (``r1``) and a copy of
a small dataset, optionally after breaking the dataset or with another process holding the ledger
or writing the run. Each must end with exactly one ``error: ...`` line that names the problem (a
regular expression), exit code 2, and leave the ledger and its spool exactly as they were. The
next probe is one more row.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.configs import recorded_config
from support.ledger import env as subprocess_env
from support.synth import make_dataset

from assistant.cli.registry import main
from assistant.ledger import Ledger
from assistant.ledger.records import TABLES
from assistant.ledger.spool import spool_dir
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

ROOT = Path(__file__).resolve().parents[2]


# -- what a probe may do to the dataset or around the ledger ------------------------------------
def _edit(name: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def prepare(dataset: Path) -> None:
        path = dataset / name
        path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")

    return prepare


def _rename_question_key(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.strip() and not line.startswith("#"):
                obj = json.loads(line)
                obj[new] = obj.pop(old, ["a fact"])
                lines[i] = json.dumps(obj)
                break
        return "\n".join(lines) + "\n"

    return change


def _corrupt_middle(name: str) -> Callable[[Path], None]:
    """Overwrite 5,000 bytes a third into the file: far from its tail (which the decode check
    reads), and enough that decoding fails there (as the replay would, half-way)."""

    def prepare(dataset: Path) -> None:
        path = dataset / name
        size = path.stat().st_size
        with path.open("r+b") as f:
            f.seek(size // 3)
            f.write(b"\xff" * 5000)

    return prepare


_OWNER = """
import sys, time
from assistant.ledger.owner import owned
ledger = owned(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""
_RUN_WRITER = """
import sys
from assistant.sessions.runlock import RunLock
lock = RunLock.acquire(sys.argv[1], sys.argv[2])
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def _process(script: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def workbench_holds(ledger: Path) -> Any:
    """The workbench (ledger.owner) holds the file, as while the app runs."""
    return _process(_OWNER, str(ledger))


def run_being_written(run_id: str) -> Callable[[Path], Any]:
    """Another live process is writing ``run_id`` (it holds the run's lock)."""
    return lambda ledger: _process(_RUN_WRITER, str(ledger), run_id)


@dataclass(frozen=True)
class Probe:
    name: str
    argv: list[str]  # {ds} is the dataset copy, {ledger} the ledger
    says: str  # a regular expression the one error line must contain
    code: int = 2
    prepare: Callable[[Path], None] | None = None  # breaks the dataset copy
    around: tuple[Callable[[Path], Any], ...] = ()  # context managers given the ledger
    env: dict[str, str] = field(default_factory=dict)
    long: bool = False  # the 40 s dataset (its middle is far from the tail)


REPLAY = ["replay", "{ds}", "--ledger", "{ledger}", "--stt", "recorded", "--quiet"]
LIVEKIT = {"LIVEKIT_URL": "ws://localhost:7880", "LIVEKIT_API_KEY": "key"}

PROBES = [
    Probe("run id ending in a newline", [*REPLAY, "--run-id", "evil\n"],
          r"run id 'evil\\n' is not valid"),
    Probe("kb tenant ending in a newline",
          ["kb", "ingest", "{ds}/knowledge", "--tenant", "acme\n", "--ledger", "{ledger}"],
          r"tenant id 'acme\\n' is not valid"),
    Probe("token signed with a 1-character secret",
          ["token", "--tenant", "acme", "--room", "standup", "--identity", "alice"],
          r"LIVEKIT_API_SECRET has 1 characters; LiveKit requires at least 32",
          env={**LIVEKIT, "LIVEKIT_API_SECRET": "x"}),
    Probe("token signed with a 31-character secret",
          ["token", "--tenant", "acme", "--room", "standup", "--identity", "alice"],
          r"has 31 characters", env={**LIVEKIT, "LIVEKIT_API_SECRET": "s" * 31}),
    Probe("unknown top-level manifest key", REPLAY,
          r"manifest\.toml:\d+: unknown key 'colour'",
          prepare=_edit("manifest.toml", lambda t: t.replace("format = 1", 'format = 1\ncolour = "blue"'))),
    Probe("fps under [screen]", REPLAY, r"manifest\.toml:\d+: unknown key 'screen\.fps'",
          prepare=_edit("manifest.toml", lambda t: t.replace('[screen]\n', "[screen]\nfps = 5\n"))),
    Probe("a typo in [ground_truth]", REPLAY,
          r"unknown key 'ground_truth\.transcipt'; did you mean 'transcript'\?",
          prepare=_edit("manifest.toml", lambda t: t.replace("transcript =", "transcipt ="))),
    Probe("a typo in a participant", REPLAY,
          r"unknown key 'participants\.audi'; did you mean 'audio'\?",
          prepare=_edit("manifest.toml", lambda t: t.replace('name = "Bob"', 'name = "Bob"\naudi = "x"'))),
    Probe("keyfacts in questions.jsonl", REPLAY,
          r"questions\.jsonl:1: unknown key 'keyfacts'; did you mean 'key_facts'\?",
          prepare=_edit("questions.jsonl", _rename_question_key("key_facts", "keyfacts"))),
    Probe("Needs_Screen in questions.jsonl", REPLAY,
          r"questions\.jsonl:1: unknown key 'Needs_Screen'; did you mean 'needs_screen'\?",
          prepare=_edit("questions.jsonl", _rename_question_key("needs_screen", "Needs_Screen"))),
    Probe("video corrupt in the middle", REPLAY, r"screen\.mp4: the video is corrupt at \d+\.\d s",
          prepare=_corrupt_middle("screen.mp4"), long=True),
    Probe("a taken run id, spooled while the workbench holds the ledger",
          [*REPLAY, "--run-id", "r1"], r"run r1 already exists in the ledger",
          around=(workbench_holds,)),
    Probe("resume of a run another process is still writing",
          ["replay", "{ds}", "--ledger", "{ledger}", "--resume", "r1", "--quiet"],
          r"run r1 is still being written by process \d+", around=(run_being_written("r1"),)),
]


# -- the harness ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_ledger(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    path = tmp_path_factory.mktemp("probes") / "base.duckdb"
    replay(load_dataset(tiny_master), ledger=path, config=recorded_config(), run_id="r1")
    return path


@pytest.fixture(scope="module")
def long_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("long") / "long", duration_s=40.0)


def fingerprint(ledger: Path) -> dict[str, Any]:
    """Every table's rows (counted and hashed), the runs' states, and the spool's contents."""
    with Ledger(ledger, read_only=True) as held:
        cur = held.cursor()
        tables = {
            t: cur.execute(f'SELECT count(*), sum(hash(t::VARCHAR)) FROM "{t}" t').fetchall()[0]
            for t in TABLES
        }
        runs = cur.execute("SELECT run_id, status, ended_at::VARCHAR FROM runs ORDER BY 1").fetchall()
    spool = spool_dir(ledger)
    files = sorted(
        str(p.relative_to(spool))
        for p in spool.rglob("*")
        if p.is_file() and ".running" not in p.parts and p.name != "taken-runs.txt"
    ) if spool.exists() else []
    return {"tables": tables, "runs": runs, "spool": files}


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe(
    probe: Probe,
    base_ledger: Path,
    tiny_master: Path,
    long_master: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = Path(shutil.copy(base_ledger, tmp_path / "ledger.duckdb"))
    master = long_master if probe.long else tiny_master
    dataset = Path(shutil.copytree(master, tmp_path / "dataset"))
    if probe.prepare is not None:
        probe.prepare(dataset)
    for name, value in probe.env.items():
        monkeypatch.setenv(name, value)
    before = fingerprint(ledger)
    argv = [a.replace("{ds}", str(dataset)).replace("{ledger}", str(ledger)) for a in probe.argv]
    with ExitStack() as stack:
        for context in probe.around:
            stack.enter_context(context(ledger))
        code = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == probe.code, err
    assert len(errors) == 1, err
    assert re.search(probe.says, errors[0]), errors[0]
    assert "Traceback" not in err
    assert fingerprint(ledger) == before  # nothing recorded is lost, nothing half-written added

