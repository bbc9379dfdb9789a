"""Command line for LiveKit rooms and tokens: ``python -m assistant token|rooms ...``.

``add_commands(subparsers)`` adds the parsers; ``run(args)`` runs one and returns the exit code.
Errors propagate as ``WorkbenchError`` (``RoomError``), which the main CLI prints as one line.
LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET configure everything.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from assistant.core.errors import RoomError
from assistant.core.tenancy import TenantContext
from assistant.livekit.admin import LiveKitSettings, RoomAdmin, RoomInfo, run_sync
from assistant.livekit.tokens import MAX_TTL_S, MIN_TTL_S, mint_token, verify_token

ENV_HELP = "configured by LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = subparsers.add_parser(
        "token",
        help="print an access token for one participant in a tenant's room",
        description=f"Print a LiveKit join token (JWT) on stdout; {ENV_HELP}.",
    )
    _tenant_and_room(token)
    token.add_argument("--identity", required=True, help="participant identity, e.g. alice")
    token.add_argument("--name", help="display name (default: none)")
    token.add_argument(
        "--ttl",
        type=int,
        default=600,
        help=f"lifetime in seconds, {MIN_TTL_S}..{MAX_TTL_S} (default %(default)s)",
    )
    token.add_argument("--metadata", help="participant metadata, a JSON object")
    token.add_argument("--no-publish", action="store_true", help="may not publish audio/video")
    token.add_argument("--no-subscribe", action="store_true", help="may not subscribe")
    token.add_argument("--no-data", action="store_true", help="may not publish data / chat")

    rooms = subparsers.add_parser(
        "rooms", help="list, create or delete a tenant's LiveKit rooms", description=ENV_HELP
    )
    actions = rooms.add_subparsers(dest="rooms_command", required=True)
    listing = actions.add_parser("list", help="the tenant's rooms")
    listing.add_argument("--tenant", required=True, help="tenant id, e.g. acme")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    create = actions.add_parser("create", help="create (or update) a room of the tenant")
    _tenant_and_room(create)
    create.add_argument("--metadata", help="custom room metadata, a JSON object")
    create.add_argument("--empty-timeout", type=int, default=300, help="seconds (default 300)")
    create.add_argument("--max-participants", type=int, default=10, help="(default 10)")
    delete = actions.add_parser("delete", help="delete a room of the tenant")
    _tenant_and_room(delete)


def _tenant_and_room(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, help="tenant id, e.g. acme")
    parser.add_argument(
        "--room", required=True, help="room name, e.g. standup (or its full tenant_… name)"
    )


def run(args: argparse.Namespace) -> int:
    settings = LiveKitSettings.from_env()
    ctx = TenantContext(args.tenant)
    if args.command == "token":
        jwt = mint_token(
            settings,
            ctx,
            args.room,
            identity=args.identity,
            name=args.name,
            ttl_s=args.ttl,
            metadata=_json_object(args.metadata, "--metadata"),
            can_publish=not args.no_publish,
            can_subscribe=not args.no_subscribe,
            can_publish_data=not args.no_data,
        )
        claims = verify_token(settings, jwt, ctx=ctx)
        print(jwt)
        print(
            f"token for {claims.identity} in {claims.room} at {settings.url}, "
            f"expires {claims.expires_at:%Y-%m-%d %H:%M:%S} UTC",
            file=sys.stderr,
        )
        return 0
    admin = RoomAdmin(settings)
    if args.rooms_command == "list":
        rooms = run_sync(admin.list_rooms(ctx))
        if args.json:
            print(json.dumps([_as_dict(r) for r in rooms], indent=2, ensure_ascii=False))
        elif not rooms:
            print(f"tenant {ctx.tenant_id} has no rooms")
        else:
            print(format_rooms(rooms))
    elif args.rooms_command == "create":
        create = admin.create_room(
            ctx,
            args.room,
            metadata=_json_object(args.metadata, "--metadata"),
            empty_timeout_s=args.empty_timeout,
            max_participants=args.max_participants,
        )
        print(format_rooms([run_sync(create)]))
    else:
        run_sync(admin.delete_room(ctx, args.room))
        print(f"deleted {args.room} of tenant {ctx.tenant_id}")
    return 0


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as e:
        raise RoomError(
            f'{option} is not JSON ({e}): give an object, e.g. \'{{"topic": "standup"}}\''
        ) from e
    if not isinstance(value, dict):
        raise RoomError(f'{option} must be a JSON object, e.g. \'{{"topic": "standup"}}\'')
    return value


def _as_dict(r: RoomInfo) -> dict[str, Any]:
    return {
        "name": r.name,
        "room": r.room,
        "sid": r.sid,
        "participants": r.num_participants,
        "created_at": r.created_at.isoformat(),
        "empty_timeout_s": r.empty_timeout_s,
        "max_participants": r.max_participants,
        "metadata": dict(r.custom),
    }


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_rooms(rooms: Sequence[RoomInfo]) -> str:
    """A plain-text table: name, room, participants, created (UTC), metadata."""
    header = ("name", "room", "participants", "created (UTC)", "metadata")
    rows = [
        (
            r.name,
            r.room,
            f"{r.num_participants}/{r.max_participants}",
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            _clip(json.dumps(dict(r.custom), ensure_ascii=False, sort_keys=True)),
        )
        for r in rooms
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)
