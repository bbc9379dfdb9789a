"""The command line: a replay ends with a summary; user errors are one line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.cli.registry import main


def test_replay_then_runs(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = str(tmp_path / "l.duckdb")
    code = main(
        [
            "replay",
            str(tiny),
            "--ledger",
            ledger,
            "--stt",
            "recorded",
            "--run-id",
            "cli-run-7",
            "--threshold",
            "0.2",
        ]
    )
    out = capsys.readouterr()
    assert code == 0
    for piece in (
        "run cli-run-7 (finished)",
        "requests        3",
        "cost per hour",
        "p95",
        "mean quality",
    ):
        assert piece in out.out
    assert "replay" in out.err  # the progress bar
    assert main(["runs", "--ledger", ledger]) == 0
    listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if "cli-run-7" in line)
    assert "finished" in row and "0.2" in row and "tiny" in row
    assert (
        main(["replay", str(tiny), "--ledger", ledger, "--stt", "recorded", "--once", "--quiet"])
        == 0
    )
    assert "nothing to do" in capsys.readouterr().err


def test_bad_dataset_is_one_clear_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny / "screen.mp4").write_bytes(b"not a video")
    code = main(["replay", str(tiny), "--ledger", str(tmp_path / "l.duckdb"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "screen.mp4" in err and "Traceback" not in err
    assert not (tmp_path / "l.duckdb").exists()  # validated before the ledger is touched


def test_bad_threshold_and_missing_ledger(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tiny), "--threshold", "3", "--ledger", str(tmp_path / "x")]) == 2
    assert "outside [0, 1]" in capsys.readouterr().err
    assert main(["runs", "--ledger", str(tmp_path / "none.duckdb")]) == 2
    assert "python -m assistant replay" in capsys.readouterr().err
