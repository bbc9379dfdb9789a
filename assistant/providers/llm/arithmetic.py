"""Sums and differences of two numbers read on the screen, for the offline answerer.

A question that asks "how much more / higher / longer ... than" or "... together / in total"
names two things whose numbers sit in one column of a table ("the average response time of /world
than that of /hello"), or in two label-value pairs. :func:`combine` picks the two numeric values
whose row names (a cell's row header, a pair's label) each hold a term of the question the other
does not, under the same column header, and computes the result; the answerer quotes both
operands with their citations after it, so the figure can be checked. Nothing is computed when
the question does not ask for it or when no such pair is read (one operand missing or garbled).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from assistant.core.text import content_terms

_SUM = re.compile(r"\b(together|in total|combined|altogether|sum of|add up|added up)\b")
_DIFFERENCE = re.compile(
    r"\b(how (much|many) (more|less|fewer|higher|lower|bigger|smaller|larger|longer|shorter"
    r"|faster|slower|greater)|difference between|differ by)\b"
)
_VALUE = re.compile(r"^[\s$€£(+-]*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*([a-z%/]{0,6})\s*\)?$", re.I)


@dataclass(frozen=True, slots=True)
class Operand:
    """A number the screen shows and what names it: ``row`` (a cell's row header or a label),
    ``column`` (a cell's column header, empty for a label-value pair), ``index`` (the candidate's
    position in the ranking, for its citation)."""

    value: str
    row: str
    column: str
    index: int


@dataclass(frozen=True, slots=True)
class Result:
    text: str  # "41.64 - 2.09 = 39.55"
    first: int  # ranking positions of the two operands, larger value first for a difference
    second: int


def operation(question: str) -> str | None:
    """``"sum"``, ``"difference"`` or None: what the question asks to compute."""
    lowered = question.lower()
    if _DIFFERENCE.search(lowered):
        return "difference"
    if _SUM.search(lowered):
        return "sum"
    return None


def number(value: str) -> tuple[Decimal, str] | None:
    """The number a cell holds and its unit ("41.64" → 41.64; "1,234 ms" → 1234, "ms")."""
    match = _VALUE.match(value.strip())
    if not match:
        return None
    try:
        amount = Decimal(match.group(1).replace(",", "") + (match.group(2) or ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        return None
    return amount, match.group(3).lower()


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def combine(question: str, operands: list[Operand]) -> Result | None:
    """The sum or difference the question asks for, of the best-ranked pair of operands that
    share a column header (and a unit) and whose row names each hold a question term the other
    lacks; None when the question asks for no computation or no pair is read."""
    op = operation(question)
    if op is None:
        return None
    q_terms = set(content_terms(question))
    parsed = [(o, number(o.value)) for o in operands]
    usable = [(o, n) for o, n in parsed if n is not None]
    best: tuple[int, Result] | None = None
    for i, (a, na) in enumerate(usable):
        for b, nb in usable[i + 1:]:
            if a.column != b.column or na[1] != nb[1] or a.row == b.row:
                continue
            own_a = (set(content_terms(a.row)) - set(content_terms(b.row))) & q_terms
            own_b = (set(content_terms(b.row)) - set(content_terms(a.row))) & q_terms
            if not own_a or not own_b:
                continue
            rank = a.index + b.index
            if best is not None and best[0] <= rank:
                continue
            best = (rank, _result(op, (a, na[0], na[1]), (b, nb[0], nb[1])))
    return best[1] if best else None


def _result(
    op: str, a: tuple[Operand, Decimal, str], b: tuple[Operand, Decimal, str]
) -> Result:
    (oa, va, unit), (ob, vb, _) = a, b
    places = max(_places(va), _places(vb))
    suffix = f" {unit}" if unit and unit != "%" else unit
    if op == "sum":
        total = round(va + vb, places)
        return Result(f"{va} + {vb} = {total}{suffix}", oa.index, ob.index)
    if vb > va:
        (oa, va), (ob, vb) = (ob, vb), (oa, va)
    return Result(f"{va} - {vb} = {round(va - vb, places)}{suffix}", oa.index, ob.index)
