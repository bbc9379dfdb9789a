"""Command line: ``python -m assistant replay|sweep|runs``.

Errors the user can fix are printed as one line (what and how to fix) with exit code 2; there is no
traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.errors import WorkbenchError
from assistant.core.paths import default_ledger

if TYPE_CHECKING:
    from assistant.ledger.queries import RunSummary

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m assistant",
        description="Meeting-assistant routing workbench: replay sessions into the DuckDB ledger.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="replay a recorded session into the ledger")
    replay.add_argument("dataset", help="dataset folder (or its manifest.toml), e.g. datasets/demo")
    replay.add_argument(
        "--ledger",
        default=default_ledger(),
        help="DuckDB ledger file (default: $WORKBENCH_LEDGER or workbench.duckdb)",
    )
    replay.add_argument("--threshold", type=float, help="routing threshold in [0, 1]")
    replay.add_argument("--config", help="TOML configuration file (see README)")
    replay.add_argument("--run-id", help="id for the new run (default: dataset, time, threshold)")
    replay.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="finish a run that stopped (killed, failed, interrupted) from its last checkpoint, "
        "with its recorded configuration; no row is written twice",
    )
    replay.add_argument(
        "--stt",
        help='transcription provider, e.g. "whisper:tiny.en" or '
        '"recorded" (the ground-truth transcript: fast)',
    )
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.add_argument(
        "--both-tiers",
        action="store_true",
        help="also answer every question with the other tier (into tier_outcomes, for `sweep`); "
        "answers are cached by content hash in the ledger, so a rerun makes no answer calls",
    )
    replay.add_argument(
        "--paced",
        type=float,
        nargs="?",
        const=1.0,
        metavar="SPEED",
        help="release the media in real time (or SPEED times faster), as a live room would",
    )
    replay.add_argument(
        "--progress-file",
        metavar="PATH",
        help="append progress as JSON lines ({run_id, media_s, duration_s, status}) for a monitor",
    )
    replay.add_argument(
        "--once",
        action="store_true",
        help="do nothing if the ledger already holds a finished run of this dataset",
    )

    sample = sub.add_parser(
        "sample-bench", help="compare frame-sampling policies on a recording's ground truth"
    )
    sample.add_argument("dataset", help="dataset folder with truth/screen_changes.jsonl")
    sample.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sample.add_argument(
        "--min-state-s",
        type=float,
        default=1.0,
        help="screen states shorter than this are not counted (default 1.0)",
    )
    sample.add_argument("--config", help="TOML file: its [sampling] tunes the change policy")
    sample.add_argument(
        "--no-questions",
        action="store_true",
        help="no capture on questions: judge the policies' own rules",
    )

    stt = sub.add_parser("stt-bench", help="compare transcription providers on a recording")
    stt.add_argument("dataset", help="dataset folder with truth/transcript.jsonl")
    stt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stt.add_argument(
        "--providers",
        default="recorded:,whisper:tiny.en,deepgram:nova-3",
        help="comma-separated provider specs (default: %(default)s)",
    )

    from assistant.cli import rooms as rooms_cli
    from assistant.cli import routing_bench as bench_cli

    rooms_cli.add_commands(sub)
    from assistant.livekit import publish

    publish.add_command(sub)
    from assistant.cli import kb as kb_cli

    kb_cli.add_commands(sub)
    from assistant.cli import judge as judge_cli

    judge_cli.add_commands(sub)
    bench_cli.add_commands(sub)
    from assistant.benchmarks import harness as bench_harness

    bench_harness.add_command(sub)

    sweep = sub.add_parser(
        "sweep", help="every threshold's cost, quality and latency from a --both-tiers run"
    )
    sweep.add_argument("--run", required=True, help="id of a run replayed with --both-tiers")
    sweep.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")
    sweep.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sweep.add_argument(
        "--target",
        type=float,
        default=0.95,
        help="share of all-premium quality the recommendation must reach (default 0.95)",
    )

    runs = sub.add_parser("runs", help="list the runs in the ledger")
    runs.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill` ends a replay like Ctrl-C: flushed, marked interrupted


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "sample-bench":
            return _sample_bench(args)
        if args.command == "stt-bench":
            return _stt_bench(args)
        if args.command == "bench":
            from assistant.benchmarks.harness import run_command

            return run_command(args)
        if args.command == "routing-bench":
            from assistant.cli import routing_bench as bench_cli

            return bench_cli.run(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "judge":
            from assistant.cli import judge as judge_cli

            return judge_cli.run(args)
        if args.command == "kb":
            from assistant.cli import kb as kb_cli

            return kb_cli.run(args)
        if args.command == "publish":
            from assistant.livekit import publish

            return publish.run(args)
        if args.command in ("token", "rooms"):
            from assistant.cli import rooms as rooms_cli

            return rooms_cli.run(args)
        return _runs(args)
    except WorkbenchError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: the run is marked 'interrupted'; flushed rows are kept", file=sys.stderr
        )
        return 130


def _replay(args: argparse.Namespace) -> int:
    import dataclasses

    from assistant.core.config import load_config
    from assistant.ledger.queries import run_summary
    from assistant.ledger.sink import PathSink
    from assistant.ledger.spool import spool_dir
    from assistant.sessions.datasets import load_dataset
    from assistant.sessions.replay import replay, resume

    config = load_config(args.config)
    if args.threshold is not None:
        config = config.with_threshold(args.threshold)
    if args.stt:
        spec = args.stt if ":" in args.stt else f"{args.stt}:"
        config = dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider=spec))
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    say(f"loading {args.dataset}")
    dataset = load_dataset(args.dataset, progress=lambda msg: say(f"  {msg}"))
    say(
        f"  {dataset.title or dataset.name}: {dataset.duration_s:.0f} s, "
        f"{len(dataset.participants)} participants, {len(dataset.questions)} questions, "
        f"{len(dataset.documents)} documents"
    )
    sink = PathSink(args.ledger, notice=lambda message: print(f"notice: {message}", file=sys.stderr))
    if args.once:
        finished = sink.read(lambda ledger: _has_finished_run(ledger, dataset.name))
        if finished:
            print(
                f"{args.ledger} already holds a finished run of {dataset.name}: nothing to do",
                file=sys.stderr,
            )
            return 0
    bar = _bar(dataset.duration_s, "replay", quiet=args.quiet)
    monitor = ProgressFile(args.progress_file, dataset.duration_s) if args.progress_file else None

    def progress(media_s: float) -> None:
        if bar is not None:
            bar(media_s)
        if monitor is not None:
            monitor.update(media_s)

    status = "failed"
    try:
        if args.resume:
            if monitor is not None:
                monitor.started(args.resume)
            run_id = resume(
                dataset,
                ledger=sink,
                run_id=args.resume,
                progress=progress,
                notice=lambda message: print(f"notice: {message}", file=sys.stderr),
            )
        else:
            run_id = replay(
                dataset,
                ledger=sink,
                config=config,
                run_id=args.run_id,
                progress=progress,
                notice=lambda message: print(f"notice: {message}", file=sys.stderr),
                both_tiers=args.both_tiers,
                paced_speed=args.paced,
                on_start=None if monitor is None else monitor.started,
            )
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        _close(bar)
        if monitor is not None:
            monitor.close(status)
    summary = sink.read(lambda ledger: run_summary(ledger, run_id))
    if summary is None:
        print(
            f"run {run_id}: {sink.spooled_segments} segments spooled to {spool_dir(args.ledger)}; "
            "the workbench holding the ledger ingests them (open its Runs page to see the run)"
        )
    else:
        print(format_summary(summary, ledger_path=args.ledger))
    return 0


class ProgressFile:
    """Progress of a replay as JSON lines, for a monitor in another process (the Replay page).

    Lines are appended at most every 0.5 s: ``{"run_id", "media_s", "duration_s", "status"}``
    with status ``running`` and a last line ``finished``, ``failed`` or ``interrupted``.
    """

    def __init__(self, path: str, duration_s: float) -> None:
        self.path = Path(path)
        self.duration_s = duration_s
        self.run_id: str | None = None
        self.media_s = 0.0
        self._last_write = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def started(self, run_id: str) -> None:
        self.run_id = run_id
        self._write("running")

    def update(self, media_s: float) -> None:
        import time

        self.media_s = max(self.media_s, media_s)
        now = time.monotonic()
        if now - self._last_write >= 0.5:
            self._last_write = now
            self._write("running")

    def close(self, status: str) -> None:
        self._write(status)

    def _write(self, status: str) -> None:
        import json

        line = {
            "run_id": self.run_id,
            "media_s": round(self.media_s, 3),
            "duration_s": self.duration_s,
            "status": status,
        }
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def _has_finished_run(ledger: object, dataset_name: str) -> bool:
    from assistant.ledger.queries import list_runs

    runs = list_runs(ledger)  # type: ignore[arg-type]
    done = runs[(runs["dataset_name"] == dataset_name) & (runs["status"] == "finished")]
    return not done.empty


def format_summary(s: RunSummary, *, ledger_path: str) -> str:
    quality = "n/a" if s.mean_quality is None else f"{s.mean_quality:.3f}"
    share = "n/a" if s.premium_share is None else f"{s.premium_share:.0%}"
    per_hour = "n/a" if s.cost_per_media_hour_usd is None else f"${s.cost_per_media_hour_usd:.4f}"
    return "\n".join(
        [
            f"run {s.run_id} ({s.status}) -> {ledger_path}",
            f"  requests        {s.requests}: cheap {s.cheap_requests}, premium {s.premium_requests}"
            f" ({share} premium), errors {s.errors}",
            f"  total cost      ${s.total_cost_usd or 0:.6f} (transcription, vision, retrieval, answers)",
            f"  cost per hour   {per_hour} per media hour",
            f"  latency         p50 {_ms(s.p50_latency_ms)}, p95 {_ms(s.p95_latency_ms)}",
            f"  mean quality    {quality} (share of key facts in the answer; see README)",
            f"  recorded        {s.calls} calls, {s.frames_kept} kept frames, {s.utterances} utterances",
        ]
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _sample_bench(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from assistant.benchmarks.sampling import (
        DEFAULT_POLICIES,
        format_sample_bench,
        run_sample_bench,
    )
    from assistant.core.config import load_config
    from assistant.sessions.datasets import load_dataset

    dataset = load_dataset(args.dataset)
    policies = dict(DEFAULT_POLICIES)
    if args.config:
        policies["change"] = dataclasses.replace(load_config(args.config).sampling, policy="change")
    bar = _bar(dataset.duration_s, "sampling", quiet=args.json)
    bench = run_sample_bench(
        dataset,
        policies=policies,
        min_state_s=args.min_state_s,
        questions=not args.no_questions,
        progress=bar,
    )
    _close(bar)
    print(json.dumps(bench.to_dict(), indent=2) if args.json else format_sample_bench(bench))
    return 0


def _stt_bench(args: argparse.Namespace) -> int:
    import json

    from assistant.benchmarks.stt import format_stt_bench, run_stt_bench
    from assistant.sessions.datasets import load_dataset

    dataset = load_dataset(args.dataset)
    specs = tuple(p.strip() if ":" in p else f"{p.strip()}:" for p in args.providers.split(","))
    say = (
        (lambda m: None)
        if args.json
        else (lambda m: print(f"transcribing with {m}", file=sys.stderr))
    )
    bench = run_stt_bench(dataset, providers=specs, progress=say)
    print(json.dumps(bench.to_dict(), indent=2) if args.json else format_stt_bench(bench))
    return 0


def _bar(total_s: float, desc: str, *, quiet: bool) -> Any:
    """A tqdm bar over media seconds, as a callable taking the current media time."""
    if quiet:
        return None
    from tqdm import tqdm

    bar = tqdm(total=round(total_s), unit="s media", desc=desc, file=sys.stderr, dynamic_ncols=True)

    def update(t_s: float) -> None:
        if t_s - bar.n >= 1:
            bar.update(int(min(t_s, total_s)) - bar.n)

    update.bar = bar  # type: ignore[attr-defined]
    return update


def _close(progress: Any) -> None:
    if progress is not None:
        progress.bar.close()


def _sweep(args: argparse.Namespace) -> int:
    import json

    from assistant.analysis.sweep import format_sweep, sweep
    from assistant.core.errors import ConfigError
    from assistant.ledger import Ledger

    if not 0.0 < args.target <= 1.0:
        raise ConfigError(f"--target must be in (0, 1], not {args.target}")
    with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
        result = sweep(ledger, args.run)
    if args.json:
        print(json.dumps(result.to_dict(args.target), indent=2))
    else:
        print(format_sweep(result, target=args.target))
    return 0


def _runs(args: argparse.Namespace) -> int:
    from assistant.ledger import Ledger
    from assistant.ledger.queries import list_runs

    with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
        frame = list_runs(ledger)
    if frame.empty:
        print(f"no runs in {args.ledger} yet: python -m assistant replay datasets/demo")
        return 0
    columns = [
        "run_id",
        "status",
        "dataset_name",
        "threshold",
        "requests",
        "premium_share",
        "total_cost_usd",
        "cost_per_media_hour_usd",
        "p95_latency_ms",
        "mean_quality",
    ]
    import pandas as pd

    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.max_colwidth", 48
    ):
        print(frame[[c for c in columns if c in frame.columns]].to_string(index=False))
    return 0
