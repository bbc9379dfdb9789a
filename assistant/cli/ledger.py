"""``python -m assistant ledger copy|compact|convert``: move a ledger between a file and a lake,
keep a lake small, and convert a file written by a newer DuckDB."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from assistant.core.paths import default_ledger

    ledger = sub.add_parser(
        "ledger", help="copy a ledger between a file and a lake, compact a lake, convert a file"
    )
    actions = ledger.add_subparsers(dest="ledger_action", required=True)
    copy = actions.add_parser(
        "copy",
        help="copy every table of SRC into the new ledger DST (a file or ducklake:…, either way)",
    )
    copy.add_argument("source", metavar="SRC", help="ledger file or ducklake:… to read")
    copy.add_argument("target", metavar="DST", help="new ledger file or ducklake:… to fill")
    compact = actions.add_parser(
        "compact",
        help="DuckLake maintenance: inlined rows to files, small files merged, old snapshots "
        "expired, unreferenced files deleted",
    )
    compact.add_argument(
        "--ledger",
        default=default_ledger(),
        help="the lake: ducklake:… (default $WORKBENCH_LEDGER)",
    )
    compact.add_argument(
        "--keep-days",
        type=float,
        default=7.0,
        help="keep snapshots (time travel) this many days (default 7)",
    )
    convert = actions.add_parser(
        "convert", help="rewrite a ledger file written by a newer DuckDB for the pinned one"
    )
    convert.add_argument("file", help="the ledger file")


def run(args: argparse.Namespace) -> int:
    if args.ledger_action == "copy":
        from assistant.ledger.lakes import copy_ledger

        report = copy_ledger(args.source, args.target)
        print("\n".join(report.lines()))
        return 0
    if args.ledger_action == "compact":
        from assistant.ledger.lakes import compact_lake

        print("\n".join(compact_lake(args.ledger, keep_days=args.keep_days).lines()))
        return 0
    from assistant.ledger.convert import convert_file

    kept = convert_file(args.file)
    print(f"converted {args.file} for this DuckDB; the original is kept as {kept}")
    return 0
