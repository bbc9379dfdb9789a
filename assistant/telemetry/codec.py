"""Ledger records to span attributes and back, field by field.

OpenTelemetry attributes are strings, booleans, 64-bit integers and doubles, never null: a None
field is left out, a timestamp is its ISO 8601 text (UTC). Decoding a record needs its text,
number and flag fields; a missing optional one is None, a missing required one is an error."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

T = TypeVar("T")
AttributeValue = str | bool | int | float


@functools.cache
def _hints(cls: type) -> dict[str, tuple[type, bool]]:
    """field -> (its type, whether None is allowed)."""
    out: dict[str, tuple[type, bool]] = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            base = next(a for a in args if a is not type(None))
            out[name] = (base, type(None) in args)
        else:
            out[name] = (hint, False)
    return out


def to_attribute(value: object) -> AttributeValue | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def record_attributes(
    values: Mapping[str, Any] | object, cls: type, prefix: str
) -> dict[str, AttributeValue]:
    """``prefix + field`` for every field of ``cls`` that ``values`` (a row or a record) has."""
    get = values.get if isinstance(values, Mapping) else (lambda n: getattr(values, n, None))
    out: dict[str, AttributeValue] = {}
    for name in _hints(cls):
        value = to_attribute(get(name))
        if value is not None:
            out[prefix + name] = value
    return out


class DecodeError(ValueError):
    """A span's attributes do not make the record they say they are."""


def record_from_attributes(
    cls: type[T], attrs: Mapping[str, Any], prefix: str, **overrides: Any
) -> T:
    """The record of ``cls`` that ``record_attributes`` encoded (``overrides`` win)."""
    kwargs: dict[str, Any] = {}
    for name, (base, optional) in _hints(cls).items():  # type: ignore[arg-type]
        if name in overrides:
            kwargs[name] = overrides[name]
            continue
        raw = attrs.get(prefix + name)
        if raw is None:
            if optional:
                kwargs[name] = None
            elif name in ("created_at", "started_at"):
                continue  # the dataclass default: now
            else:
                raise DecodeError(f"attribute {prefix + name} is missing")
            continue
        kwargs[name] = _convert(raw, base, prefix + name)
    return cls(**kwargs)


def _convert(raw: Any, base: type, name: str) -> Any:
    try:
        if base is datetime:
            parsed = datetime.fromisoformat(str(raw))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if base is bool:
            if not isinstance(raw, bool):
                raise TypeError("not a boolean")
            return raw
        if base is int:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise TypeError("not an integer")
            return int(raw)
        if base is float:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise TypeError("not a number")
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"attribute {name} = {raw!r}: {exc}") from exc


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))
