"""``python -m assistant.agent connect|dev|start``: the live agent's command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant.core.errors import WorkbenchError
from assistant.core.paths import default_ledger
from assistant.livekit.agent import DEFAULT_IDENTITY, DEFAULT_NAME, AgentOptions, connect
from assistant.livekit.worker import run_worker
from assistant.sessions.wake import WakePhrases


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m assistant.agent",
        description="The live meeting assistant: join a LiveKit room (connect) or run as a "
        "LiveKit Agents worker (dev, start). Needs LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and SDK logs")
    sub = parser.add_subparsers(dest="command", required=True)
    connect_p = sub.add_parser("connect", help="join one of a tenant's rooms and serve it")
    connect_p.add_argument("--room", required=True, help="room name (or the full tenant_T_R name)")
    connect_p.add_argument("--tenant", required=True, help="tenant id (checked in room metadata)")
    connect_p.add_argument(
        "--ledger",
        default=default_ledger(),
        help="DuckDB ledger file (default: $WORKBENCH_LEDGER or workbench.duckdb)",
    )
    connect_p.add_argument("--config", help="TOML configuration file (see README)")
    connect_p.add_argument("--threshold", type=float, help="routing threshold in [0, 1]")
    connect_p.add_argument("--stt", help='transcription provider, e.g. "whisper:tiny.en"')
    connect_p.add_argument(
        "--vision-threshold",
        type=float,
        help="a threshold of its own for the screen reading (default: the answer's decision)",
    )
    connect_p.add_argument(
        "--budget-usd-per-hour",
        type=float,
        metavar="USD",
        help="route cheap once the session's running cost per media hour is over this",
    )
    connect_p.add_argument("--knowledge", help="the tenant's documents (folder of .md/.txt)")
    connect_p.add_argument("--identity", default=DEFAULT_IDENTITY, help="participant identity")
    connect_p.add_argument("--name", default=DEFAULT_NAME, help="display name (also a wake word)")
    connect_p.add_argument(
        "--wake",
        action="append",
        default=[],
        metavar="NAME",
        help="another name that addresses the assistant at the start of an utterance (repeatable)",
    )
    connect_p.add_argument(
        "--chat-needs-name",
        action="store_true",
        help="only chat messages that start with the assistant's name are questions",
    )
    connect_p.add_argument(
        "--record",
        metavar="DIR",
        help="also record the room as a dataset folder under DIR (one per session; "
        "the worker reads WORKBENCH_RECORD_DIR)",
    )
    connect_p.add_argument(
        "--max-retries", type=int, default=10, help="join attempts after a lost connection"
    )
    for name, text in (
        ("dev", "run a LiveKit Agents worker in development mode (rooms are dispatched to it)"),
        ("start", "run a LiveKit Agents worker in production mode"),
    ):
        sub.add_parser(name, help=f"{text}; `{name} --help` lists the LiveKit Agents options")
    return parser


def options_from_args(args: argparse.Namespace) -> AgentOptions:
    from assistant.core.config import config_from_options

    config = config_from_options(
        args.config,
        threshold=args.threshold,
        stt=args.stt,
        vision_threshold=args.vision_threshold,
        budget_usd_per_hour=args.budget_usd_per_hour,
    )
    return AgentOptions(
        ledger=args.ledger,
        config=config,
        identity=args.identity,
        name=args.name,
        wake=WakePhrases(
            names=WakePhrases.for_agent(args.name, args.wake).names,
            chat_needs_name=args.chat_needs_name,
        ),
        knowledge=Path(args.knowledge) if args.knowledge else None,
        record=Path(args.record) if args.record else None,
    )


async def _connect_until_signal(args: argparse.Namespace, options: AgentOptions) -> str:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        return await connect(
            tenant=args.tenant,
            room=args.room,
            options=options,
            max_retries=args.max_retries,
            stop=stop,
            notice=lambda message: print(message, file=sys.stderr, flush=True),
        )
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["dev"], ["start"]):  # the LiveKit Agents CLI parses its own options
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        try:
            return run_worker(argv)
        except WorkbenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s %(message)s"
    )
    if not args.debug:
        logging.getLogger("livekit").setLevel(logging.WARNING)
    try:
        from assistant.livekit.admin import LiveKitSettings

        LiveKitSettings.from_env()  # says what to set before any model is loaded
        options = options_from_args(args)
        asyncio.run(_connect_until_signal(args, options))
        return 0
    except WorkbenchError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
