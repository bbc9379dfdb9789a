"""`python -m assistant labels --run RUN_ID [--export FILE | --write-dataset]`: a run's labels."""

from __future__ import annotations

import argparse


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from assistant.core.paths import default_ledger

    parser = subparsers.add_parser(
        "labels",
        help="a run's labels (Label page): summary, export as JSON lines, or write into the dataset",
    )
    parser.add_argument("--run", required=True, metavar="RUN_ID", help="the labelled run")
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--export", metavar="FILE", help="write the labels in force as JSON lines ('-': stdout)"
    )
    action.add_argument(
        "--write-dataset",
        action="store_true",
        help="write references, key facts and question edits into the dataset's questions file",
    )
    action.add_argument(
        "--train-router",
        metavar="WEIGHTS",
        help="fit a router on the labelled requests of a --both-tiers run and save its weights "
        '(--kind learned: WORKBENCH_LEARNED_WEIGHTS with [routing] scorer = "learned"; '
        '--kind text: WORKBENCH_TEXT_WEIGHTS with scorer = "text")',
    )
    parser.add_argument(
        "--kind",
        choices=("learned", "text"),
        default="learned",
        help="with --train-router: the logistic learned router (default) or the text router",
    )
    parser.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistant.analysis.labels import dataset_folder, labels_jsonl, write_labels_to_dataset
    from assistant.core.errors import LedgerError
    from assistant.ledger import Ledger
    from assistant.ledger.queries import run_requests, run_source, run_summary
    from assistant.ledger.queries.labels import label_history, latest_labels

    with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
        if args.train_router:
            from assistant.analysis.labels import train_router_from_labels
            from assistant.core.errors import ConfigError

            if not run_source(ledger, args.run):
                raise LedgerError(f"run {args.run} does not exist in {ledger.label}")
            try:
                trained = train_router_from_labels(ledger, args.run, kind=args.kind)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
            trained.model.save(args.train_router)
            print(f"{trained.sentence}; weights in {args.train_router}")
            return 0
        source = run_source(ledger, args.run)
        if source is None:
            raise LedgerError(f"run {args.run} does not exist in {ledger.label}")
        summary = run_summary(ledger, args.run)
        latest = latest_labels(ledger, args.run)
        rows = latest.to_dict("records")
        history = len(label_history(ledger, args.run))
        requests = run_requests(ledger, args.run)
    screen = dict(zip(requests["request_id"], requests["needs_screen"], strict=True))
    for row in rows:
        row["needs_screen"] = bool(screen.get(row["request_id"], False))
    if args.export:
        text = labels_jsonl(rows)
        if args.export == "-":
            print(text, end="")
        else:
            Path(args.export).write_text(text, encoding="utf-8")
            print(f"wrote {args.export}: {len(rows)} labels in force ({history} rows in all)")
        return 0
    if args.write_dataset:
        result = write_labels_to_dataset(dataset_folder(source[1], run_id=args.run), rows)
        print(result.sentence)
        return 0
    quality = "n/a" if summary.mean_quality is None else f"{summary.mean_quality:.3f}"
    kinds = latest["kind"].value_counts().to_dict() if not latest.empty else {}
    print(
        f"run {args.run}: {history} label rows, {len(rows)} in force"
        + (f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if kinds else "")
    )
    print(f"mean quality {quality} ({summary.labelled} of {summary.requests} labelled)")
    return 0
