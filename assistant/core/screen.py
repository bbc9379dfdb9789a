"""A structured reading of one screen: its title, text blocks and tables, with positions.

The offline screen reader (``assistant.providers.vision.layout``) builds one from OCR boxes; the
answerer reads one back from the text a vision call returned. The text form is Markdown, so it is
what a cloud model reads, what the ledger stores as the frame's reading (``screen_text``) and what
:func:`parse_reading` turns back into a ``ScreenReading``:

    # Title
    a line of a text block
    another line of the same block

    | Name | # Requests | # Fails |
    | --- | --- | --- |
    | /hello | 445 | 445 |

Positions are fractions of the frame (0..1, origin top-left); they are not part of the text form, so
a reading parsed back from text has none (``Box`` is ``None``). The JSON form keeps them
(:meth:`ScreenReading.to_json`, :func:`reading_from_json`; ``LAYOUT_VERSION`` names its shape):
the ledger stores it beside the text (``request_inputs.screen_layout_json``) for readings that have
positions. A vision provider's result is a :class:`ScreenText`: the Markdown as a ``str`` that
carries its reading, so the call cache, the frame cache and the recorder keep the positions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

CELL_SEPARATOR = " · "
_NUMBER = re.compile(r"^[\s$€£+\-(]*\d[\d\s.,:%/+\-)]*\S{0,3}$")


@dataclass(frozen=True, slots=True)
class Box:
    """Where something is on the screen, as fractions of the frame's width and height."""

    x0: float
    y0: float
    x1: float
    y1: float

    def to_list(self) -> list[float]:
        """``[x0, y0, x1, y1]``, rounded to 1/10000 of the frame (the JSON form)."""
        return [round(v, 4) for v in (self.x0, self.y0, self.x1, self.y1)]


@dataclass(frozen=True, slots=True)
class TextBlock:
    lines: tuple[str, ...]
    box: Box | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell with the headers that name it (empty when the table has none)."""

    text: str
    row: int  # 0 is the header row
    column: int
    row_header: str
    column_header: str

    def with_headers(self) -> str:
        """``"EMEA · Q3 2025 · $1.32M"``: the row's header, the column's header, the value."""
        parts = [h for h in (self.row_header, self.column_header) if h and h != self.text]
        return CELL_SEPARATOR.join([*parts, self.text])


@dataclass(frozen=True, slots=True)
class Table:
    """Rows x columns of cell text; row 0 is the header row, :attr:`key_column` (usually 0) holds
    the row headers."""

    rows: tuple[tuple[str, ...], ...]
    box: Box | None = None

    @property
    def width(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    @property
    def header(self) -> tuple[str, ...]:
        return self.rows[0] if self.rows else ()

    @property
    def key_column(self) -> int:
        """The column that names each row: the first whose data cells are all filled in, not
        numbers and all different ("/hello", "/world" rather than "GET", "GET"); else the first."""
        data = self.rows[1:]
        for c in range(self.width - 1):
            values = [_at(row, c) for row in data]
            named = [v for v in values if v and not _NUMBER.match(v)]
            if data and len(named) == len(values) and len(set(named)) == len(named):
                return c
        return 0

    def cells(self) -> list[Cell]:
        """The data cells (not the header row, not the row headers), each with its headers."""
        out = []
        header, key = self.header, self.key_column
        for r, row in enumerate(self.rows[1:], start=1):
            name = _at(row, key)
            for c, text in enumerate(row):
                if (c == key and len(row) > 1) or not text:
                    continue
                out.append(Cell(text, r, c, name if c != key else "", _at(header, c)))
        return out

    def row_text(self, r: int) -> str:
        """A data row as ``header: value`` pairs (``"Name: /hello · # Fails: 445"``)."""
        header = self.header
        pairs = []
        for c, text in enumerate(self.rows[r]):
            if not text:
                continue
            name = _at(header, c)
            pairs.append(f"{name}: {text}" if name and name != text else text)
        return CELL_SEPARATOR.join(pairs)


def _at(row: tuple[str, ...], i: int) -> str:
    return row[i] if i < len(row) else ""


@dataclass(frozen=True, slots=True)
class ScreenReading:
    title: str | None = None
    blocks: tuple[TextBlock, ...] = ()
    tables: tuple[Table, ...] = ()
    title_box: Box | None = None
    # the order the parts appear in, top to bottom: ("title", 0), ("block", i), ("table", j)
    order: tuple[tuple[str, int], ...] = ()

    def to_markdown(self) -> str:
        parts: list[str] = []
        order = self.order or (
            ([("title", 0)] if self.title else [])
            + [("block", i) for i in range(len(self.blocks))]
            + [("table", j) for j in range(len(self.tables))]
        )
        for kind, i in order:
            if kind == "title" and self.title:
                parts.append(f"# {self.title}")
            elif kind == "block":
                parts.append("\n".join(_escape(line) for line in self.blocks[i].lines))
            elif kind == "table":
                parts.append(_table_markdown(self.tables[i]))
        return "\n\n".join(p for p in parts if p)

    @property
    def has_positions(self) -> bool:
        """Whether any part carries a box (OCR readings do; one parsed from text does not)."""
        boxes = [self.title_box, *(b.box for b in self.blocks), *(t.box for t in self.tables)]
        return any(box is not None for box in boxes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form as a dict: version, title and its box, blocks (lines, box), tables
        (rows, box) and order; each box ``[x0, y0, x1, y1]`` as fractions of the frame, or null."""
        return {
            "version": LAYOUT_VERSION,
            "title": self.title,
            "title_box": _box_list(self.title_box),
            "blocks": [{"lines": list(b.lines), "box": _box_list(b.box)} for b in self.blocks],
            "tables": [
                {"rows": [list(r) for r in t.rows], "box": _box_list(t.box)} for t in self.tables
            ],
            "order": [[kind, i] for kind, i in self.order],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


LAYOUT_VERSION = 1
"""The version of the JSON form :meth:`ScreenReading.to_dict` writes (raise it on any change of
its shape; :func:`reading_from_dict` reads this version and refuses newer ones)."""

_PARTS = ("title", "block", "table")


def _box_list(box: Box | None) -> list[float] | None:
    return None if box is None else box.to_list()


def _box(value: Any) -> Box | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError(f"a screen layout box is [x0, y0, x1, y1], not {value!r}")
    x0, y0, x1, y1 = (float(v) for v in value)
    return Box(x0, y0, x1, y1)


def _texts(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"a screen layout's {what} is a list of strings, not {value!r}")
    return tuple(value)


def reading_from_dict(data: Any) -> ScreenReading:
    """A reading from the dict :meth:`ScreenReading.to_dict` made; ``ValueError`` naming the
    problem for anything else (a newer version, a missing part, a malformed box)."""
    if not isinstance(data, dict):
        raise ValueError(f"a screen layout is a JSON object, not {type(data).__name__}")
    version = data.get("version")
    if not isinstance(version, int) or not 1 <= version <= LAYOUT_VERSION:
        raise ValueError(
            f"screen layout version {version!r} is not one this workbench reads (1 to "
            f"{LAYOUT_VERSION}); upgrade the workbench to read it"
        )
    try:
        title = data["title"]
        if title is not None and not isinstance(title, str):
            raise ValueError(f"a screen layout's title is text, not {title!r}")
        blocks = tuple(
            TextBlock(_texts(b["lines"], "block lines"), _box(b["box"])) for b in data["blocks"]
        )
        tables = tuple(
            Table(tuple(_texts(r, "table row") for r in t["rows"]), _box(t["box"]))
            for t in data["tables"]
        )
        order = tuple((str(kind), int(i)) for kind, i in data["order"])
        title_box = _box(data["title_box"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a screen layout lacks or misshapes a part: {exc!r}") from exc
    sizes = {"title": 1 if title is not None else 0, "block": len(blocks), "table": len(tables)}
    for kind, i in order:
        if kind not in _PARTS or not 0 <= i < sizes[kind]:
            raise ValueError(f"a screen layout's order names a part it lacks: {[kind, i]}")
    return ScreenReading(title, blocks, tables, title_box, order)


def reading_from_json(text: str) -> ScreenReading:
    """The reading :meth:`ScreenReading.to_json` wrote (``ValueError`` when it is not one)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a screen layout is not JSON: {exc}") from exc
    return reading_from_dict(data)


class ScreenText(str):
    """A screen reading's text (what a vision call returns and the answerer reads) that keeps the
    structured reading it was written from, positions included. It is a ``str``, so everything
    that reads the text works unchanged; string operations return plain text (no reading)."""

    reading: ScreenReading | None

    def __new__(cls, text: str, reading: ScreenReading | None = None) -> ScreenText:
        self = super().__new__(cls, text)
        self.reading = reading
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return ScreenText, (str(self), self.reading)


def layout_of(text: str) -> ScreenReading | None:
    """The reading with positions that ``text`` carries (a :class:`ScreenText` from OCR), else
    None (plain text, as a cloud model's reading is)."""
    reading = getattr(text, "reading", None)
    if isinstance(reading, ScreenReading) and reading.has_positions:
        return reading
    return None


def _escape(line: str) -> str:
    """A text line that would read as Markdown structure (``# x``, ``| x``) keeps a backslash."""
    return "\\" + line if line.startswith(("#", "|", "\\")) else line


def _table_markdown(table: Table) -> str:
    width = table.width

    def row(cells: tuple[str, ...]) -> str:
        padded = [c.replace("|", "/") for c in cells] + [""] * (width - len(cells))
        return "| " + " | ".join(padded) + " |"

    lines = [row(table.rows[0]), "| " + " | ".join(["---"] * width) + " |"]
    lines += [row(r) for r in table.rows[1:]]
    return "\n".join(lines)


_SEPARATOR_ROW = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$")


def parse_reading(text: str) -> ScreenReading:
    """The structure of a screen's text: Markdown as :meth:`ScreenReading.to_markdown` writes it
    (or as a cloud model might); plain text reads as text blocks split at blank lines."""
    title: str | None = None
    blocks: list[TextBlock] = []
    tables: list[Table] = []
    order: list[tuple[str, int]] = []
    lines: list[str] = []
    rows: list[tuple[str, ...]] = []

    def close() -> None:
        if lines:
            order.append(("block", len(blocks)))
            blocks.append(TextBlock(tuple(lines)))
            lines.clear()
        if rows:
            order.append(("table", len(tables)))
            tables.append(Table(tuple(rows)))
            rows.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            close()
        elif line.startswith("|"):
            if lines:
                close()
            if not _SEPARATOR_ROW.match(line):
                rows.append(tuple(c.strip() for c in line.strip().strip("|").split("|")))
        elif re.match(r"^#{1,6}\s", line):
            close()
            heading = line.lstrip("#").strip()
            if title is None:
                title = heading
                order.append(("title", 0))
            else:
                order.append(("block", len(blocks)))
                blocks.append(TextBlock((heading,)))
        else:
            if rows:
                close()
            lines.append(line[1:] if line.startswith("\\") else line)
    close()
    return ScreenReading(title, tuple(blocks), tuple(tables), order=tuple(order))
