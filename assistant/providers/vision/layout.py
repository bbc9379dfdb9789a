"""From OCR boxes to a structured reading: title, text blocks, tables (rows x columns).

Geometry only, no model: boxes are grouped into lines by vertical overlap, and within a line into
segments where the horizontal gap is wider than the text is tall (a column gap, not a word gap).

- **title**: the tallest line near the top, clearly taller than the body text (and the lines right
  under it of the same size, for a title on two lines);
- **tables**: two or more consecutive lines that each have two or more segments, whose segments are
  short (cells, not two columns of prose) and line up in columns: the columns are the x ranges that
  the rows' segments cover, split where almost no row has text. A run of such lines is cut where a
  line without numbers follows lines with numbers after a wider gap than the run's usual one, or
  with two segments more or fewer (a new table's header under the last one's data);
  the header is the line right above the first line with numbers, with the line above it when the
  two touch (a header on two lines, "# / Requests"); lines above the header are text;
- **text blocks**: the other lines, split where the vertical gap is wider than a line.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from assistant.core.screen import Box, ScreenReading, Table, TextBlock

TITLE_HEIGHT_RATIO = 1.3  # a title's letters are this much taller than the median line's
TITLE_ZONE = 0.35  # ... and it starts in the top share of the text's extent
COLUMN_GAP_RATIO = 0.6  # a gap wider than this many line heights separates two cells
MAX_CELL_WORDS = 5  # a table's median cell has at most this many words
BLOCK_GAP_RATIO = 1.2  # a vertical gap wider than this many line heights starts a new block
TABLE_ROW_GAP_RATIO = 3.0  # rows of one table are at most this many line heights apart


@dataclass(frozen=True, slots=True)
class Word:
    """One OCR box: its text and its extent in pixels."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(slots=True)
class _Line:
    segments: list[Word]

    @property
    def top(self) -> float:
        return min(s.y0 for s in self.segments)

    @property
    def bottom(self) -> float:
        return max(s.y1 for s in self.segments)

    @property
    def height(self) -> float:
        return statistics.median(s.y1 - s.y0 for s in self.segments)

    @property
    def text(self) -> str:
        return "  ".join(s.text for s in self.segments)


def words_from_ocr(boxes: Sequence[object], texts: Sequence[object]) -> list[Word]:
    """RapidOCR's quadrilaterals (4 points each) and texts as axis-aligned ``Word`` boxes."""
    out = []
    for box, text in zip(boxes, texts, strict=True):
        pts = [(float(p[0]), float(p[1])) for p in box]  # type: ignore[attr-defined]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        if str(text).strip():
            out.append(Word(" ".join(str(text).split()), min(xs), min(ys), max(xs), max(ys)))
    return out


def _lines(words: Sequence[Word]) -> list[_Line]:
    """Boxes grouped into lines (a box whose middle falls inside the line's first box), each read
    left to right and split into segments at column-wide gaps."""
    rows: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w.y0, w.x0)):
        middle = (w.y0 + w.y1) / 2
        if rows and rows[-1][0].y0 <= middle <= rows[-1][0].y1:
            rows[-1].append(w)
        else:
            rows.append([w])
    lines = []
    for row in rows:
        row.sort(key=lambda w: w.x0)
        height = statistics.median(w.y1 - w.y0 for w in row)
        segments = [row[0]]
        for w in row[1:]:
            last = segments[-1]
            if w.x0 - last.x1 < COLUMN_GAP_RATIO * height:
                segments[-1] = Word(
                    f"{last.text} {w.text}", last.x0, min(last.y0, w.y0), w.x1, max(last.y1, w.y1)
                )
            else:
                segments.append(w)
        lines.append(_Line(segments))
    return lines


def _columns(rows: Sequence[_Line]) -> list[tuple[float, float]]:
    """The x ranges the rows' segments cover, split where at most one row in ten has text."""
    spans = sorted((s.x0, s.x1) for r in rows for s in r.segments)
    edges = sorted({x for span in spans for x in span})
    allowed = len(rows) // 10
    columns: list[tuple[float, float]] = []
    for left, right in pairwise(edges):
        middle = (left + right) / 2
        covered = sum(1 for r in rows if any(s.x0 <= middle <= s.x1 for s in r.segments))
        if covered > allowed:
            if columns and columns[-1][1] >= left:
                columns[-1] = (columns[-1][0], right)
            else:
                columns.append((left, right))
    return columns


_NUMERIC = re.compile(
    r"^[\s$€£+\-(]*\d[\d\s.,:%/+\-)]*"
    r"(\s?(ms|s|sec|secs|min|mins|h|k|m|bn|mb|kb|gb|tb|b|g|kg|x|usd|eur|rps|/s|%))?$",
    re.IGNORECASE,
)


def _numeric(line: _Line) -> bool:
    """Does the line hold a cell that is a number (with a unit at most): a table's data row?"""
    return any(_NUMERIC.match(s.text) for s in line.segments)


def _split_tables(rows: Sequence[_Line]) -> list[tuple[list[_Line], list[_Line]]]:
    """A run of multi-segment lines as ``(text lines, table rows)`` pairs, in order: cut where a
    line without numbers follows one with numbers, the header kept with its data."""
    gaps = [b.top - a.bottom for a, b in pairwise(rows)]
    usual = statistics.median(gaps) if gaps else 0.0
    groups: list[list[_Line]] = [[]]
    for i, line in enumerate(rows):
        wide = i and gaps[i - 1] > max(1.5 * usual, 0.5 * line.height)
        reshaped = i and abs(len(line.segments) - len(rows[i - 1].segments)) >= 2
        if (wide or reshaped) and not _numeric(line) and _numeric(rows[i - 1]):
            groups.append([])
        groups[-1].append(line)
    out: list[tuple[list[_Line], list[_Line]]] = []
    for group in groups:
        first = next((i for i, ln in enumerate(group) if _numeric(ln)), None)
        if first is None or first == 0:
            out.append(([], group))
            continue
        head = first - 1
        if head >= 1 and group[head].top - group[head - 1].bottom < 0.5 * group[head].height:
            head -= 1  # a header on two lines
        out.append((group[:head], group[head:first] + group[first:]))
    return out


def _header_rows(cells: list[list[str]], rows: Sequence[_Line]) -> list[list[str]]:
    """A header on two lines (both without numbers, above the first line with numbers, touching)
    joined into one row, column by column."""
    two = len(rows) >= 3 and not _numeric(rows[0]) and not _numeric(rows[1])
    if two and _numeric(rows[2]) and rows[1].top - rows[0].bottom < 0.5 * rows[1].height:
        joined = [f"{a} {b}".strip() for a, b in zip(cells[0], cells[1], strict=True)]
        return [joined, *cells[2:]]
    return cells


def _table(rows: Sequence[_Line]) -> list[list[str]] | None:
    """The rows as cells under their columns, or None when they do not line up as a table."""
    segments = [s for r in rows for s in r.segments]
    if statistics.median(len(s.text.split()) for s in segments) > MAX_CELL_WORDS:
        return None  # two columns of prose, not a table
    columns = _columns(rows)
    if len(columns) < 2:
        return None
    out = []
    for r in rows:
        cells = [""] * len(columns)
        for s in r.segments:
            overlap = [min(s.x1, c1) - max(s.x0, c0) for c0, c1 in columns]
            i = max(range(len(columns)), key=lambda k: overlap[k])
            cells[i] = f"{cells[i]} {s.text}".strip()
        out.append(cells)
    if sum(1 for row in out if sum(bool(c) for c in row) >= 2) < 2:
        return None
    return _header_rows(out, rows)


def _box(lines: Sequence[_Line], width: float, height: float) -> Box:
    x0 = min(s.x0 for ln in lines for s in ln.segments)
    x1 = max(s.x1 for ln in lines for s in ln.segments)
    return Box(
        round(x0 / width, 4),
        round(min(ln.top for ln in lines) / height, 4),
        round(x1 / width, 4),
        round(max(ln.bottom for ln in lines) / height, 4),
    )


def read_layout(words: Sequence[Word], *, width: float, height: float) -> ScreenReading:
    """The structured reading of one screen from its OCR words (pixel boxes on a frame of
    ``width`` x ``height`` pixels)."""
    lines = _lines(words)
    if not lines:
        return ScreenReading()
    body = statistics.median(ln.height for ln in lines)
    top, bottom = min(ln.top for ln in lines), max(ln.bottom for ln in lines)
    order: list[tuple[str, int]] = []
    title_lines: list[_Line] = []
    if len(lines) > 1:
        zone = top + TITLE_ZONE * (bottom - top)
        head = [i for i, ln in enumerate(lines[:4]) if ln.top <= zone]
        if head:
            best = max(head, key=lambda i: lines[i].height)
            tall = lines[best].height >= TITLE_HEIGHT_RATIO * body
            if tall and len(lines[best].segments) <= 2:  # not a bar of labels and values
                title_lines = [lines[best]]
                nxt = best + 1
                while nxt < len(lines) and lines[nxt].height >= 0.85 * lines[best].height and (
                    lines[nxt].top - title_lines[-1].bottom < lines[best].height
                ):
                    title_lines.append(lines[nxt])
                    nxt += 1
                rest = lines[:best] + lines[nxt:]
                lines = rest
                order.append(("title", 0))
    blocks: list[TextBlock] = []
    tables: list[Table] = []
    pending: list[_Line] = []

    def flush_block() -> None:
        if pending:
            order.append(("block", len(blocks)))
            blocks.append(
                TextBlock(tuple(ln.text for ln in pending), _box(pending, width, height))
            )
            pending.clear()

    def add_line(line: _Line) -> None:
        if pending and line.top - pending[-1].bottom > BLOCK_GAP_RATIO * body:
            flush_block()
        pending.append(line)

    i = 0
    while i < len(lines):
        j = i
        while (
            j < len(lines)
            and len(lines[j].segments) >= 2
            and (j == i or lines[j].top - lines[j - 1].bottom <= TABLE_ROW_GAP_RATIO * body)
        ):
            j += 1
        if j - i < 2:
            add_line(lines[i])
            i += 1
            continue
        for text_lines, rows in _split_tables(lines[i:j]):
            for line in text_lines:
                add_line(line)
            cells = _table(rows) if len(rows) >= 2 else None
            if cells is None:
                for line in rows:
                    add_line(line)
                continue
            flush_block()
            order.append(("table", len(tables)))
            tables.append(Table(tuple(tuple(r) for r in cells), _box(rows, width, height)))
        i = j
    flush_block()
    title = " ".join(ln.text for ln in title_lines) or None
    title_box = _box(title_lines, width, height) if title_lines else None
    return ScreenReading(title, tuple(blocks), tuple(tables), title_box, tuple(order))
