"""LiveKit room administration and access tokens, scoped to one tenant.

Room names carry the tenant: ``tenant_{tenant_id}_{room}``. Tenant ids and room names are
``[a-z0-9][a-z0-9-]{0,62}`` (no ``_``), so the two underscores split a name one way only: no name can
be read as another tenant's (``tenant_acme_corp-x`` is tenant ``acme``, ``tenant_acme-corp_x`` is
``acme-corp``). A room is the tenant's only when its name parses to the tenant AND its metadata
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
import re
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from assistant.core.errors import WorkbenchError

if TYPE_CHECKING:
    from livekit import api as lk

log = logging.getLogger(__name__)
T = TypeVar("T")

ID_RULE = "1-63 characters from a-z, 0-9 and '-', starting with a letter or digit (no '_')"
IDENTITY_RULE = (
    "1-128 characters from A-Z, a-z, 0-9 and . _ @ : + -, starting with a letter or digit"
)
ENV_VARS = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
DEV_HINT = (
    "for a local `livekit-server --dev`: LIVEKIT_URL=ws://localhost:7880 "
    "LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret"
)
INSTALL_HINT = "livekit-api is not installed: pip install livekit-api==1.2.2"
MIN_TTL_S, MAX_TTL_S = 60, 86_400
MAX_METADATA_BYTES = 64_000  # livekit-server's default room.max_metadata_size
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_FULL_NAME = re.compile(r"tenant_([a-z0-9][a-z0-9-]{0,62})_([a-z0-9][a-z0-9-]{0,62})")
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}")
_HINTS = {
    401: "LiveKit refused the credentials: check that LIVEKIT_API_KEY and LIVEKIT_API_SECRET "
    "match the server's keys",
    403: "the API key lacks the permission for this call",
    404: "not found on the server",
    429: "rate limited: try again later",
}


class RoomError(WorkbenchError):
    """A room or token operation failed; ``status`` is the HTTP status when the server answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TenancyError(RoomError):
    """The room belongs to another tenant (by name or by metadata)."""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_tenant_id(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RoomError(f"invalid tenant id {_show(value)}: use {ID_RULE}")
    return value


def validate_room(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RoomError(f"invalid room name {_show(value)}: use {ID_RULE}")
    return value


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant every room operation acts for; the id is validated on construction."""

    tenant_id: str

    def __post_init__(self) -> None:
        validate_tenant_id(self.tenant_id)


def room_name(ctx: TenantContext, room: str) -> str:
    """The LiveKit room name of ``room`` for ``ctx``'s tenant: ``tenant_{tenant}_{room}``."""
    return f"tenant_{ctx.tenant_id}_{validate_room(room)}"


def parse_room_name(name: str) -> tuple[str, str] | None:
    """``(tenant_id, room)`` of a name built by :func:`room_name`; None for any other name."""
    match = _FULL_NAME.fullmatch(name) if isinstance(name, str) else None
    return (match.group(1), match.group(2)) if match else None


def resolve_room(ctx: TenantContext, room: str) -> str:
    """A bare room name, or a full ``tenant_…`` name of this tenant, as the full name.

    A full name of another tenant raises TenancyError; anything else invalid raises RoomError.
    """
    parsed = parse_room_name(room)
    if parsed is None:
        return room_name(ctx, room)
    if parsed[0] != ctx.tenant_id:
        raise TenancyError(
            f"room {room!r} belongs to tenant {parsed[0]!r}, not {ctx.tenant_id!r}: "
            "a tenant can only reach its own rooms"
        )
    return room


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
        return f"its metadata names tenant {_show(owner)}"
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


def _redact(text: str, secret: str) -> str:
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
                f"LiveKit {what} failed: HTTP {e.status}{_redact(detail[:300], s.api_secret)}. {hint}",
                status=e.status,
            ) from e
        except TimeoutError as e:
            raise RoomError(
                f"LiveKit at {s.url} did not answer {what} within {self.timeout_s} s"
            ) from e
        except aiohttp.ClientError as e:
            reason = _redact(f"{type(e).__name__}: {e}", s.api_secret)
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
@dataclass(frozen=True, slots=True)
class TokenClaims:
    identity: str
    name: str
    metadata: str
    room: str  # the full LiveKit room name
    tenant_id: str | None  # parsed from ``room``
    room_join: bool
    can_publish: bool
    can_subscribe: bool
    can_publish_data: bool
    not_before: datetime  # UTC
    expires_at: datetime  # UTC

    @property
    def ttl_s(self) -> float:
        return (self.expires_at - self.not_before).total_seconds()


def mint_token(
    settings: LiveKitSettings,
    ctx: TenantContext,
    room: str,
    *,
    identity: str,
    name: str | None = None,
    ttl_s: int = 600,
    metadata: Mapping[str, Any] | str | None = None,
    can_publish: bool = True,
    can_subscribe: bool = True,
    can_publish_data: bool = True,
) -> str:
    """A join token for one participant in one of the tenant's rooms, with explicit grants."""
    try:
        from livekit import api
    except ImportError as e:
        raise RoomError(INSTALL_HINT) from e
    full = resolve_room(ctx, room)
    if not isinstance(identity, str) or not _IDENTITY.fullmatch(identity):
        raise RoomError(f"invalid identity {_show(identity)}: use {IDENTITY_RULE}")
    if name is not None and (
        not isinstance(name, str) or len(name) > 128 or not name.isprintable()
    ):
        raise RoomError(f"invalid display name {_show(name)}: up to 128 printable characters")
    if (
        isinstance(ttl_s, bool)
        or not isinstance(ttl_s, int | float)
        or not MIN_TTL_S <= ttl_s <= MAX_TTL_S
    ):
        raise RoomError(f"token ttl {ttl_s!r} s is outside {MIN_TTL_S}..{MAX_TTL_S} s")
    if metadata is not None and not isinstance(metadata, str):
        try:
            metadata = json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise RoomError(f"token metadata is not a JSON object: {e}") from e
    if metadata is not None and len(metadata.encode()) > MAX_METADATA_BYTES:
        raise RoomError(f"token metadata is over LiveKit's {MAX_METADATA_BYTES}-byte limit")
    grants = api.VideoGrants(
        room_join=True,
        room=full,
        can_publish=can_publish,
        can_subscribe=can_subscribe,
        can_publish_data=can_publish_data,
        can_update_own_metadata=False,  # explicit: the SDK leaves unset grants out of the JWT
        room_create=False,
        room_list=False,
        room_admin=False,
        room_record=False,
    )
    token = (
        api.AccessToken(settings.api_key, settings.api_secret)
        .with_identity(identity)
        .with_grants(grants)
        .with_ttl(timedelta(seconds=ttl_s))
    )
    if name:
        token = token.with_name(name)
    if metadata:
        token = token.with_metadata(metadata)
    return token.to_jwt()


def verify_token(
    settings: LiveKitSettings, token: str, *, ctx: TenantContext | None = None
) -> TokenClaims:
    """Check signature, issuer and expiry (TokenVerifier, 60 s leeway); with ``ctx``, the tenant."""
    try:
        import jwt
        from livekit import api
    except ImportError as e:
        raise RoomError(INSTALL_HINT) from e
    try:
        claims = api.TokenVerifier(settings.api_key, settings.api_secret).verify(token)
        raw = jwt.decode(token, options={"verify_signature": False})
    except jwt.ExpiredSignatureError as e:
        raise RoomError("token has expired: mint a new one") from e
    except jwt.InvalidSignatureError as e:
        raise RoomError("token signature does not match LIVEKIT_API_SECRET") from e
    except jwt.InvalidIssuerError as e:
        raise RoomError("token was not issued for LIVEKIT_API_KEY") from e
    except jwt.PyJWTError as e:
        raise RoomError(f"token is invalid: {_redact(str(e), settings.api_secret)}") from e
    video = claims.video or api.VideoGrants()
    parsed = parse_room_name(video.room)
    if ctx is not None and (parsed is None or parsed[0] != ctx.tenant_id):
        raise TenancyError(
            f"token is for room {video.room!r}, not a room of tenant {ctx.tenant_id!r}"
        )
    return TokenClaims(
        identity=claims.identity,
        name=claims.name,
        metadata=claims.metadata,
        room=video.room,
        tenant_id=parsed[0] if parsed else None,
        room_join=bool(video.room_join),
        can_publish=bool(video.can_publish),
        can_subscribe=bool(video.can_subscribe),
        can_publish_data=bool(video.can_publish_data),
        not_before=datetime.fromtimestamp(int(raw.get("nbf", 0)), UTC),
        expires_at=datetime.fromtimestamp(int(raw["exp"]), UTC),
    )
