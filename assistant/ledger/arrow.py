"""Record dataclasses to Arrow tables, with a schema taken from the dataclass annotations.

An explicit schema means a column that is None in every row of a batch still gets its real type.
pyarrow is imported inside the functions, so importing the ledger stays light.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


def _base_type(annotation: Any) -> tuple[type, bool]:
    """``X | None`` -> (X, True); ``X`` -> (X, False)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported record annotation {annotation!r}")
        return args[0], True
    return annotation, False


@functools.cache
def arrow_schema(cls: type) -> pa.Schema:
    """The Arrow schema of a record dataclass: one field per dataclass field, in order."""
    import pyarrow as pa

    arrow_types: dict[type, pa.DataType] = {
        str: pa.string(),
        float: pa.float64(),
        int: pa.int64(),
        bool: pa.bool_(),
        datetime: pa.timestamp("us", tz="UTC"),
    }
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        base, optional = _base_type(hints[f.name])
        if base not in arrow_types:
            raise TypeError(f"{cls.__name__}.{f.name}: no Arrow type for {base!r}")
        fields.append(pa.field(f.name, arrow_types[base], nullable=optional))
    return pa.schema(fields)


def to_arrow(cls: type, rows: Sequence[object]) -> pa.Table:
    """One Arrow table holding ``rows`` (instances of ``cls``), column by column."""
    import pyarrow as pa

    schema = arrow_schema(cls)
    columns = {name: [getattr(row, name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)
