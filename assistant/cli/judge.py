"""`python -m assistant judge --run RUN_ID [--model SPEC] [--both-tiers]`: grade a run's answers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from assistant.core.money import format_usd

DEFAULT_JUDGE = "openai:gpt-4o"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from assistant.core.paths import default_ledger

    parser = subparsers.add_parser(
        "judge",
        help="grade a run's answers with a premium LLM against the references (needs a key)",
    )
    parser.add_argument("--run", required=True, metavar="RUN_ID", help="the run to grade")
    parser.add_argument(
        "--model",
        default=DEFAULT_JUDGE,
        help=f"the judge, provider:model (default {DEFAULT_JUDGE}; its key must be set)",
    )
    parser.add_argument(
        "--both-tiers",
        action="store_true",
        help="grade both tiers' answers of a `replay --both-tiers` run, not only the routed one",
    )
    parser.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    import sys
    from dataclasses import asdict
    from pathlib import Path

    from assistant.analysis.judge import Judge, judge_run
    from assistant.core.errors import ProviderError
    from assistant.ledger import Ledger
    from assistant.providers.registry import make_cloud_llm

    try:
        llm = make_cloud_llm(args.model)
    except ProviderError as exc:
        raise ProviderError(
            f"{exc}. The judge is optional: without a key, quality is the offline score "
            "(requests.quality)",
            provider=exc.provider,
            model=exc.model,
        ) from exc
    judge = Judge(llm)
    bar: Any = None
    try:
        with Ledger(Path(args.ledger), wait_s=5.0) as ledger:

            def progress(done: int, total: int) -> None:
                nonlocal bar
                if args.json:
                    return
                if bar is None:
                    from tqdm import tqdm

                    bar = tqdm(total=total, unit="answer", desc="judge", file=sys.stderr)
                bar.update(1)

            summary = judge_run(ledger, args.run, judge, both_tiers=args.both_tiers,
                                progress=progress)
    finally:
        if bar is not None:
            bar.close()
        llm.close()
    if args.json:
        print(json.dumps(asdict(summary), indent=2))
        return 0

    def fmt(value: float | None, spec: str = ".3f") -> str:
        return "n/a" if value is None else format(value, spec)

    print(
        f"judged {summary.graded} answers of {args.run} with {args.model} "
        f"({summary.errors} errors, {summary.skipped} judged before)\n"
        f"  mean judge score     {fmt(summary.mean_judge_score)}\n"
        f"  mean offline quality {fmt(summary.mean_offline_quality)}\n"
        f"  agreement (Pearson)  {fmt(summary.agreement)}\n"
        f"  judge cost           {format_usd(summary.cost_usd)} (kept apart from the run's cost)"
    )
    return 0
