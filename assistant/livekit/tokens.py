"""LiveKit access tokens: explicit grants, a short TTL, the room's tenant checked when verified."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from assistant.core.errors import RoomError, TenancyError
from assistant.core.tenancy import TenantContext, parse_room_name, resolve_room, show_value
from assistant.livekit.admin import (
    INSTALL_HINT,
    MAX_METADATA_BYTES,
    LiveKitSettings,
    redact_secret,
)

IDENTITY_RULE = (
    "1-128 characters from A-Z, a-z, 0-9 and . _ @ : + -, starting with a letter or digit"
)
MIN_TTL_S, MAX_TTL_S = 60, 86_400
MIN_SECRET_CHARS = 32  # LiveKit's server refuses a shorter API secret (HS256 wants 256 bits)
DEV_KEYS = ("devkey", "secret")  # `livekit-server --dev`'s own pair, the one short secret it takes
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}")


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
    if len(settings.api_secret) < MIN_SECRET_CHARS and (
        settings.api_key, settings.api_secret
    ) != DEV_KEYS:
        raise RoomError(
            f"LIVEKIT_API_SECRET has {len(settings.api_secret)} characters; LiveKit requires at "
            f"least {MIN_SECRET_CHARS} (its server refuses a shorter one): set the secret your "
            "server was configured with (`livekit-server generate-keys` makes a pair)"
        )
    if not isinstance(identity, str) or not _IDENTITY.fullmatch(identity):
        raise RoomError(f"invalid identity {show_value(identity)}: use {IDENTITY_RULE}")
    if name is not None and (
        not isinstance(name, str) or len(name) > 128 or not name.isprintable()
    ):
        raise RoomError(f"invalid display name {show_value(name)}: up to 128 printable characters")
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
        raise RoomError(f"token is invalid: {redact_secret(str(e), settings.api_secret)}") from e
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
