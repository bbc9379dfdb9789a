"""``python -m assistant publish DATASET --room R --tenant T``: a recorded session, live in a room."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from assistant.core.errors import WorkbenchError


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "publish", help="join a LiveKit room as a dataset's participants and play it in real time"
    )
    p.add_argument("dataset", help="dataset folder, e.g. datasets/demo")
    p.add_argument("--room", required=True, help="room name (or the full tenant_T_R name)")
    p.add_argument("--tenant", required=True, help="tenant id the room belongs to")
    p.add_argument("--speed", type=float, default=1.0, help="1.0 is real time (default)")


def run(args: argparse.Namespace) -> int:
    """``python -m assistant publish``: needs LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET."""
    from assistant.core.tenancy import TenantContext, resolve_room
    from assistant.livekit.admin import LiveKitSettings
    from assistant.livekit.publish import publish
    from assistant.sessions.datasets import load_dataset

    settings = LiveKitSettings.from_env()
    full = resolve_room(TenantContext(args.tenant), args.room)
    dataset = load_dataset(args.dataset)
    if not args.speed > 0:
        raise WorkbenchError(f"--speed must be > 0 (1.0 is real time), got {args.speed}")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    async def main() -> dict[str, int]:
        task = asyncio.ensure_future(
            publish(
                dataset,
                tenant=args.tenant,
                room=full,
                settings=settings,
                speed=args.speed,
                notice=say,
            )
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            return await task
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    try:
        counts = asyncio.run(main())
    except asyncio.CancelledError:
        say("publishing stopped")
        return 130
    say(
        f"published {counts['frames']} frames ({counts['dropped_frames']} dropped as late), "
        f"{counts['audio_frames']} audio frames, {counts['questions']} questions"
    )
    return 0
