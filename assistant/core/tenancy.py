"""Tenancy rules: tenant ids, room names that carry their tenant, and who may reach which room.

Room names carry the tenant: ``tenant_{tenant_id}_{room}``. Tenant ids and room names are
``[a-z0-9][a-z0-9-]{0,62}`` (no ``_``), so the two underscores split a name one way only: no name can
be read as another tenant's (``tenant_acme_corp-x`` is tenant ``acme``, ``tenant_acme-corp_x`` is
``acme-corp``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.core.errors import RoomError, TenancyError

ID_RULE = "1-63 characters from a-z, 0-9 and '-', starting with a letter or digit (no '_')"
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_FULL_NAME = re.compile(r"tenant_([a-z0-9][a-z0-9-]{0,62})_([a-z0-9][a-z0-9-]{0,62})")


def show_value(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_tenant_id(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RoomError(f"invalid tenant id {show_value(value)}: use {ID_RULE}")
    return value


def validate_room(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RoomError(f"invalid room name {show_value(value)}: use {ID_RULE}")
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
