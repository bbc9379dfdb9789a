"""``python -m assistant eval-sampling|eval-stt DATASET``: frame-sampling policies and
transcription providers, measured on a recording's ground truth; ``eval-answers SOURCE...``: key
facts found in the answers at the default threshold and all-premium (perception and answer
quality; the speed benchmarks are ``bench``). The old names ``sample-bench`` and ``stt-bench``
still work (``cli.registry.RENAMED``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.cli import terminal


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sample = sub.add_parser(
        "eval-sampling", help="compare frame-sampling policies on a recording's ground truth"
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

    stt = sub.add_parser("eval-stt", help="compare transcription providers on a recording")
    stt.add_argument("dataset", help="dataset folder with truth/transcript.jsonl")
    stt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stt.add_argument(
        "--providers",
        default="recorded:,whisper:tiny.en,deepgram:nova-3",
        help="comma-separated provider specs (default: %(default)s)",
    )


    answers = sub.add_parser(
        "eval-answers",
        help="key facts found in the answers, at the default threshold and all-premium",
        description="Replays each source with its ground-truth transcript, once with the default "
        "configuration and once all-premium, and counts the key facts whose letters and digits "
        "are inside the answer. A source is a dataset folder, or a meeting folder of the shared "
        "real recordings (imported first).",
    )
    answers.add_argument("sources", nargs="+", type=Path, help="dataset or meeting folders")
    answers.add_argument("--work", type=Path, default=Path("eval-answers"),
                         help="scratch folder for imports and the ledger (default eval-answers)")
    answers.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if args.command == "eval-answers":
        return _answer_bench(args)
    return _sample_bench(args) if args.command == "eval-sampling" else _stt_bench(args)


def _answer_bench(args: argparse.Namespace) -> int:
    from assistant.benchmarks.screen_qa import format_answer_bench, run_answer_bench, to_json

    results = run_answer_bench(
        args.sources, args.work, notice=lambda m: print(f"notice: {m}", file=sys.stderr)
    )
    print(to_json(results) if args.json else format_answer_bench(results))
    return 0


def _sample_bench(args: argparse.Namespace) -> int:
    import dataclasses

    from assistant.core.config import load_config
    from assistant.perception_evals.sampling import (
        DEFAULT_POLICIES,
        format_sample_bench,
        require_screen_truth,
        run_sample_bench,
    )
    from assistant.sessions.datasets import load_dataset

    dataset = load_dataset(args.dataset)
    require_screen_truth(dataset)  # refused before a bar is drawn
    policies = dict(DEFAULT_POLICIES)
    if args.config:
        policies["change"] = dataclasses.replace(load_config(args.config).sampling, policy="change")
    bar = terminal.bar(dataset.duration_s, "sampling", quiet=args.json)
    bench = run_sample_bench(
        dataset,
        policies=policies,
        min_state_s=args.min_state_s,
        questions=not args.no_questions,
        progress=bar,
    )
    terminal.finish(bar)
    terminal.close(bar)
    print(json.dumps(bench.to_dict(), indent=2) if args.json else format_sample_bench(bench))
    return 0


def _stt_bench(args: argparse.Namespace) -> int:
    from assistant.perception_evals.stt import format_stt_bench, run_stt_bench
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
