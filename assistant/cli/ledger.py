"""``python -m assistant ledger copy|compact|convert|cache``: move a ledger between a file and a
lake, keep a lake small, convert a file written by a newer DuckDB, see or empty the call cache."""

from __future__ import annotations

import argparse
import sys


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
    cache = actions.add_parser(
        "cache", help="the call cache: what it holds and saved (--stats), or empty it (--clear)"
    )
    what = cache.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--stats", action="store_true", help="entries per stage and provider, calls they answered"
    )
    what.add_argument(
        "--clear",
        action="store_true",
        help="delete every stored result (calls already recorded keep their figures)",
    )
    cache.add_argument(
        "--ledger",
        default=default_ledger(),
        help="ledger file or ducklake:… (default: $WORKBENCH_LEDGER or workbench.duckdb)",
    )


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
    if args.ledger_action == "cache":
        return _cache(args)
    from assistant.ledger.convert import convert_file

    kept = convert_file(args.file)
    print(f"converted {args.file} for this DuckDB; the original is kept as {kept}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    import os

    from assistant.core.money import format_usd
    from assistant.ledger import Ledger
    from assistant.ledger.lake import is_lake
    from assistant.ledger.queries.cache import cache_stats, clear_call_cache

    if not is_lake(args.ledger) and not os.path.exists(args.ledger):
        print(
            f"error: ledger {args.ledger} does not exist; pass --ledger PATH (a replay makes one)",
            file=sys.stderr,
        )
        return 2
    if args.clear:
        with Ledger(args.ledger, wait_s=5.0) as ledger:
            removed = clear_call_cache(ledger)
        print(f"call cache of {args.ledger}: {removed} stored results deleted")
        return 0
    with Ledger(args.ledger, read_only=True, wait_s=5.0) as ledger:
        stats = cache_stats(ledger)
    if not stats.stages:
        print(
            f"call cache of {args.ledger}: empty (replays keep local providers' results; "
            "cloud ones with [calls] cache = true)"
        )
        return 0
    print(f"call cache of {args.ledger}: {stats.entries} stored results, {stats.hits} calls "
          f"answered from it, {format_usd(stats.saved_usd)} not paid")
    print(f"  {'stage':<7} {'provider:model':<32} {'entries':>7} {'kB':>8} {'made in':>10} "
          f"{'cost':>11} {'hits':>6} {'saved':>11}")
    for s in stats.stages:
        print(
            f"  {s.stage:<7} {s.spec:<32} {s.entries:>7} {s.value_bytes / 1000:>8.1f} "
            f"{s.original_latency_ms / 1000:>9.1f}s {format_usd(s.original_cost_usd):>11} "
            f"{s.hits:>6} {format_usd(s.saved_usd):>11}"
        )
    return 0
