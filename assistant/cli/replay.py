"""``python -m assistant replay DATASET ...``: replay a recorded session into the ledger."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from assistant.cli import terminal
from assistant.core.money import format_usd
from assistant.core.paths import default_ledger

if TYPE_CHECKING:
    from assistant.ledger.queries import RunSummary


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser("replay", help="replay a recorded session into the ledger")
    replay.add_argument("dataset", help="dataset folder (or its manifest.toml), e.g. datasets/demo")
    replay.add_argument(
        "--ledger",
        default=default_ledger(),
        help="DuckDB ledger file (default: $WORKBENCH_LEDGER or workbench.duckdb)",
    )
    replay.add_argument("--threshold", type=float, help="routing threshold in [0, 1]")
    replay.add_argument("--config", help="TOML configuration file (see README)")
    replay.add_argument(
        "--vision-threshold",
        type=float,
        help="a threshold of its own for the screen reading (default: the answer's decision)",
    )
    replay.add_argument(
        "--budget-usd-per-hour",
        type=float,
        metavar="USD",
        help="route cheap once the session's running cost per media hour is over this",
    )
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
    replay.add_argument(
        "--no-cache",
        action="store_true",
        help="make every call: no result from the ledger's call cache (local providers' results "
        "are looked up by default; cloud ones with [calls] cache = true), none stored",
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
        help="do nothing if the ledger already holds a finished run of this dataset (with "
        "--both-tiers: a finished run of it with both tiers' outcomes)",
    )


def run(args: argparse.Namespace) -> int:
    from assistant.core.config import config_from_options
    from assistant.jobs.progress import ProgressFile
    from assistant.ledger.queries import run_summary
    from assistant.ledger.sink import open_sink
    from assistant.ledger.spool import spool_dir
    from assistant.sessions.datasets import load_dataset
    from assistant.sessions.replay import replay, resume

    config = config_from_options(
        args.config,
        threshold=args.threshold,
        stt=args.stt,
        vision_threshold=args.vision_threshold,
        budget_usd_per_hour=args.budget_usd_per_hour,
        no_cache=args.no_cache,
    )
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    say(f"loading {args.dataset}")
    dataset = load_dataset(args.dataset, progress=lambda msg: say(f"  {msg}"))
    say(
        f"  {dataset.title or dataset.name}: {dataset.duration_s:.0f} s, "
        f"{len(dataset.participants)} participants, {len(dataset.questions)} questions, "
        f"{len(dataset.documents)} documents"
    )
    sink = open_sink(args.ledger, notice=lambda message: print(f"notice: {message}", file=sys.stderr))
    if args.once:
        finished = sink.read(
            lambda ledger: _has_finished_run(ledger, dataset.name, both_tiers=args.both_tiers)
        )
        if finished:
            kind = "both-tiers run" if args.both_tiers else "run"
            print(
                f"{args.ledger} already holds a finished {kind} of {dataset.name}: nothing to do",
                file=sys.stderr,
            )
            return 0
    bar = terminal.bar(dataset.duration_s, "replay", quiet=args.quiet)
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
                no_cache=args.no_cache,
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
        terminal.finish(bar)
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        terminal.close(bar)
        if monitor is not None:
            monitor.close(status)
    summary = sink.read(lambda ledger: run_summary(ledger, run_id))
    if summary is None:
        print(
            f"run {run_id}: {sink.spooled_segments} segments spooled to {spool_dir(args.ledger)}; "
            "the workbench holding the ledger ingests them (its Runs page shows the run, or why "
            "a segment was rejected)"
        )
    else:
        print(format_summary(summary, ledger_path=args.ledger))
    return 0


def _has_finished_run(ledger: Any, dataset_name: str, *, both_tiers: bool = False) -> bool:
    from assistant.ledger.queries import list_runs, runs_with_tier_outcomes

    runs = list_runs(ledger)
    done = runs[(runs["dataset_name"] == dataset_name) & (runs["status"] == "finished")]
    if both_tiers:  # the Routing lab's kind of run: with the other tier's outcomes
        done = done[done["run_id"].isin(runs_with_tier_outcomes(ledger))]
    return not done.empty


def format_summary(s: RunSummary, *, ledger_path: str) -> str:
    quality = "n/a" if s.mean_quality is None else f"{s.mean_quality:.3f}"
    share = "n/a" if s.premium_share is None else f"{s.premium_share:.0%}"
    per_hour = format_usd(s.cost_per_media_hour_usd)
    return "\n".join(
        [
            f"run {s.run_id} ({s.status}) -> {ledger_path}",
            f"  requests        {s.requests}: cheap {s.cheap_requests}, premium {s.premium_requests}"
            f" ({share} premium), abstained {s.abstained}, errors {s.errors}",
            f"  total cost      {format_usd(s.total_cost_usd or 0)} (transcription, vision, retrieval, "
            "answers)",
            *(
                [f"  call cache      {s.cached_calls} calls answered from it: paid now "
                 f"{format_usd(s.total_cost_usd or 0)}, cost if paid now "
                 f"{format_usd(s.cost_if_paid_usd)}"]
                if s.cached_calls
                else []
            ),
            f"  cost per hour   {per_hour} per media hour",
            f"  latency         p50 {_ms(s.p50_latency_ms)}, p95 {_ms(s.p95_latency_ms)}",
            f"  mean quality    {quality} ({s.labelled} of {s.requests} labelled; share of key "
            "facts in the answer, or a person's grade; see README)",
            *(
                [f"  abstained       {s.abstained}: mean quality answered "
                 f"{_q(s.answered_quality)}, abstained {_q(s.abstained_quality)}"]
                if s.abstained
                else []
            ),
            f"  recorded        {s.calls} calls, {s.frames_kept} kept frames, {s.utterances} utterances",
        ]
    )


def _q(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"
