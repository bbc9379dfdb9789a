"""LiveKit room administration, scoped to one tenant (RoomService through livekit-api).

A room is the tenant's only when its name parses to the tenant (``core.tenancy``) AND its metadata
(``{"tenant_id": ..., "custom": {...}}``, written by :meth:`RoomAdmin.create_room`) names the same
tenant; rooms with the right name but foreign or missing metadata (e.g. auto-created by a join) are
neither listed nor deleted nor overwritten.

Configuration: ``LIVEKIT_URL``, ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``. A local server with
the LiveKit binary: ``livekit-server --dev`` (ws://localhost:7880, key ``devkey``, secret ``secret``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from assistant.core.errors import RoomError, TenancyError
from assistant.core.tenancy import (
    TenantContext,
    parse_room_name,
    resolve_room,
    show_value,
)

if TYPE_CHECKING:
    from livekit import api as lk

log = logging.getLogger(__name__)
T = TypeVar("T")

ENV_VARS = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
DEV_HINT = (
    "for a local `livekit-server --dev`: LIVEKIT_URL=ws://localhost:7880 "
    "LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret"
)
INSTALL_HINT = "livekit-api is not installed: pip install livekit-api==1.2.2"
MAX_METADATA_BYTES = 64_000  # livekit-server's default room.max_metadata_size
_HINTS = {
    401: "LiveKit refused the credentials: check that LIVEKIT_API_KEY and LIVEKIT_API_SECRET "
    "match the server's keys",
    403: "the API key lacks the permission for this call",
    404: "not found on the server",
    429: "rate limited: try again later",
}


@dataclass(frozen=True, slots=True)
class LiveKitSettings:
    url: str
    api_key: str
    api_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
            raise RoomError(
                f"LIVEKIT_URL {self.url!r} is not a ws://, wss://, http:// or https:// URL ({DEV_HINT})"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LiveKitSettings:
        env = os.environ if environ is None else environ
        values = {name: env.get(name, "").strip() for name in ENV_VARS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise RoomError(
                f"LiveKit is not configured: set {', '.join(missing)} "
                f"(all of {', '.join(ENV_VARS)} are needed; {DEV_HINT})"
            )
        return cls(*values.values())


@dataclass(frozen=True, slots=True)
class RoomInfo:
    name: str  # the full LiveKit room name
    tenant_id: str
    room: str
    sid: str
    num_participants: int
    created_at: datetime  # UTC
    empty_timeout_s: int
    max_participants: int
    custom: Mapping[str, Any]  # the metadata's "custom" part


@dataclass(frozen=True, slots=True)
class TrackInfo:
    sid: str
    source: str  # CAMERA / MICROPHONE / SCREEN_SHARE / SCREEN_SHARE_AUDIO / UNKNOWN
    kind: str  # AUDIO / VIDEO / DATA
    muted: bool
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    identity: str
    name: str
    state: str  # JOINING / JOINED / ACTIVE / DISCONNECTED
    joined_at: datetime | None  # UTC
    is_publisher: bool
    tracks: tuple[TrackInfo, ...]


def _participant(p: Any) -> ParticipantInfo:
    from livekit import api

    def enum(kind: Any, value: int) -> str:
        try:
            return str(kind.Name(value))
        except ValueError:
            return str(value)

    joined = p.joined_at_ms / 1000 if p.joined_at_ms else (p.joined_at or None)
    return ParticipantInfo(
        identity=p.identity,
        name=p.name,
        state=enum(api.ParticipantInfo.State, p.state),
        joined_at=datetime.fromtimestamp(joined, UTC) if joined else None,
        is_publisher=bool(p.is_publisher),
        tracks=tuple(
            TrackInfo(
                sid=t.sid,
                source=enum(api.TrackSource, t.source),
                kind=enum(api.TrackType, t.type),
                muted=bool(t.muted),
                width=int(t.width),
                height=int(t.height),
            )
            for t in p.tracks
        ),
    )


def encode_metadata(ctx: TenantContext, custom: Mapping[str, Any] | None) -> str:
    if custom is not None and not isinstance(custom, Mapping):
        raise RoomError(
            f"room metadata must be a JSON object (a dict), not {type(custom).__name__}"
        )
    try:
        text = json.dumps(
            {"tenant_id": ctx.tenant_id, "custom": dict(custom or {})},
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError) as e:
        raise RoomError(f"room metadata is not JSON-serialisable: {e}") from e
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise RoomError(f"room metadata is over LiveKit's {MAX_METADATA_BYTES}-byte limit")
    return text


def _foreign(ctx: TenantContext, room: lk.Room) -> str | None:
    """Why ``room`` is not ``ctx``'s tenant's, or None when it is."""
    parsed = parse_room_name(room.name)
    if parsed is None or parsed[0] != ctx.tenant_id:
        return f"its name does not belong to tenant {ctx.tenant_id!r}"
    try:
        meta = json.loads(room.metadata) if room.metadata else None
    except ValueError:
        meta = None
    owner = meta.get("tenant_id") if isinstance(meta, dict) else None
    if owner is None:
        return "its metadata carries no tenant id"
    if owner != ctx.tenant_id:
        return f"its metadata names tenant {show_value(owner)}"
    return None


def _info(room: lk.Room) -> RoomInfo:
    tenant, bare = parse_room_name(room.name) or ("", "")
    meta = json.loads(room.metadata)
    created_s = room.creation_time_ms / 1000 if room.creation_time_ms else room.creation_time
    custom = meta.get("custom")
    return RoomInfo(
        name=room.name,
        tenant_id=tenant,
        room=bare,
        sid=room.sid,
        num_participants=room.num_participants,
        created_at=datetime.fromtimestamp(created_s, UTC),
        empty_timeout_s=room.empty_timeout,
        max_participants=room.max_participants,
        custom=custom if isinstance(custom, dict) else {},
    )


def redact_secret(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


class RoomAdmin:
    """Tenant-scoped RoomService calls. Async; each call opens and closes its own LiveKitAPI."""

    def __init__(self, settings: LiveKitSettings, *, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s

    @contextlib.asynccontextmanager
    async def _api(self, what: str) -> AsyncIterator[lk.LiveKitAPI]:
        try:
            import aiohttp
            from livekit import api
        except ImportError as e:
            raise RoomError(INSTALL_HINT) from e
        s = self.settings
        client = api.LiveKitAPI(
            s.url, s.api_key, s.api_secret, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
        )
        try:
            yield client
        except api.ServerError as e:
            hint = _HINTS.get(e.status, "LiveKit server error: retry, or check the server's log")
            detail = f" {e.code}: {e.message}" if e.message else ""  # plain-text body: no code
            raise RoomError(
                f"LiveKit {what} failed: HTTP {e.status}{redact_secret(detail[:300], s.api_secret)}. {hint}",
                status=e.status,
            ) from e
        except TimeoutError as e:
            raise RoomError(
                f"LiveKit at {s.url} did not answer {what} within {self.timeout_s} s"
            ) from e
        except aiohttp.ClientError as e:
            reason = redact_secret(f"{type(e).__name__}: {e}", s.api_secret)
            raise RoomError(
                f"cannot reach LiveKit at {s.url} ({reason}): is the server running and "
                f"LIVEKIT_URL right? ({DEV_HINT})"
            ) from e
        finally:
            await client.aclose()

    @staticmethod
    async def _lookup(client: lk.LiveKitAPI, name: str) -> lk.Room | None:
        from livekit import api

        found = await client.room.list_rooms(api.ListRoomsRequest(names=[name]))
        return next((r for r in found.rooms if r.name == name), None)

    @staticmethod
    def _ensure_owned(ctx: TenantContext, room: lk.Room, action: str) -> None:
        reason = _foreign(ctx, room)
        if reason is not None:
            raise TenancyError(
                f"refusing to {action} room {room.name!r} for tenant {ctx.tenant_id!r}: {reason}"
            )

    async def create_room(
        self,
        ctx: TenantContext,
        room: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        empty_timeout_s: int = 300,
        max_participants: int = 10,
    ) -> RoomInfo:
        """Create the tenant's room; if it exists (and is the tenant's), LiveKit updates it."""
        name = resolve_room(ctx, room)
        for label, value in (
            ("empty_timeout_s", empty_timeout_s),
            ("max_participants", max_participants),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
                raise RoomError(f"{label} must be a whole number from 1 to 1000000, not {value!r}")
        meta = encode_metadata(ctx, metadata)
        async with self._api("create room") as client:
            from livekit import api

            existing = await self._lookup(client, name)
            if existing is not None:  # CreateRoom would overwrite its metadata
                self._ensure_owned(ctx, existing, "create")
            request = api.CreateRoomRequest(
                name=name,
                empty_timeout=empty_timeout_s,
                max_participants=max_participants,
                metadata=meta,
            )
            created = await client.room.create_room(request)
        self._ensure_owned(ctx, created, "use the created")
        return _info(created)

    async def list_rooms(self, ctx: TenantContext) -> list[RoomInfo]:
        """The tenant's rooms: name parses to the tenant AND metadata names it."""
        async with self._api("list rooms") as client:
            from livekit import api

            found = await client.room.list_rooms(api.ListRoomsRequest())
        rooms = []
        for room in found.rooms:
            parsed = parse_room_name(room.name)
            if parsed is None or parsed[0] != ctx.tenant_id:
                continue
            reason = _foreign(ctx, room)
            if reason is not None:
                log.warning(
                    "room %r is named for tenant %r but %s: not listed",
                    room.name,
                    ctx.tenant_id,
                    reason,
                )
                continue
            rooms.append(_info(room))
        return sorted(rooms, key=lambda r: r.name)

    async def list_participants(self, ctx: TenantContext, room: str) -> list[ParticipantInfo]:
        """Who is in the tenant's room and what each publishes (screen share, camera, mic)."""
        name = resolve_room(ctx, room)
        async with self._api("list participants") as client:
            from livekit import api

            existing = await self._lookup(client, name)
            if existing is None:
                raise RoomError(
                    f"room {name!r} does not exist; `rooms list --tenant {ctx.tenant_id}` shows "
                    "the tenant's rooms",
                    status=404,
                )
            self._ensure_owned(ctx, existing, "list the participants of")
            found = await client.room.list_participants(api.ListParticipantsRequest(room=name))
        return sorted((_participant(p) for p in found.participants), key=lambda p: p.identity)

    async def delete_room(self, ctx: TenantContext, room: str) -> None:
        """Delete the tenant's room, after checking both its name and its metadata."""
        name = resolve_room(ctx, room)
        async with self._api("delete room") as client:
            from livekit import api

            existing = await self._lookup(client, name)
            if existing is None:
                raise RoomError(
                    f"room {name!r} does not exist; `rooms list --tenant {ctx.tenant_id}` shows "
                    "the tenant's rooms",
                    status=404,
                )
            self._ensure_owned(ctx, existing, "delete")
            await client.room.delete_room(api.DeleteRoomRequest(room=name))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run one RoomAdmin call from sync code (the CLI): ``run_sync(admin.list_rooms(ctx))``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RoomError("the *_sync room calls cannot run inside an event loop: await the async ones")


# -- tokens --------------------------------------------------------------------------------------
