"""Read side of the Runs page's screen readings: what each request's screen read as (its text) and,
for OCR's readings, its parts with their positions (``request_inputs.screen_layout_json``).
No Streamlit import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.core.screen import ScreenReading
from assistant.views.result import ErrorKind, View, read_ledger

PART_COLUMNS = ["part", "text", "x0", "y0", "x1", "y1"]
NO_POSITIONS = "No positions: read by a cloud model (text only) or recorded before they were kept."


def layout_parts(reading: ScreenReading) -> list[dict[str, Any]]:
    """One row per part, top to bottom: the title, each text block (its lines joined with " / ")
    and each table (``rows x columns`` and its header row), with its box as fractions of the
    frame (None where the part has none)."""
    order = reading.order or (
        ([("title", 0)] if reading.title else [])
        + [("block", i) for i in range(len(reading.blocks))]
        + [("table", j) for j in range(len(reading.tables))]
    )
    rows = []
    for kind, i in order:
        if kind == "title":
            text, box = reading.title or "", reading.title_box
        elif kind == "block":
            text, box = " / ".join(reading.blocks[i].lines), reading.blocks[i].box
        else:
            table = reading.tables[i]
            size = f"{len(table.rows)} x {table.width}"
            text, box = f"{size}: {' | '.join(table.header)}", table.box
        coords = box.to_list() if box is not None else [None] * 4
        rows.append(dict(zip(PART_COLUMNS, [kind, text, *coords], strict=True)))
    return rows


def read_screen_readings(ledger_path: str | Path, run_id: str) -> View[list[dict[str, Any]]]:
    """The screen readings ``run_id`` recorded, one per request and vision tier that read the
    screen (a --both-tiers run records each reading with every answer tier: shown once):
    ``label`` (request, tier), ``text`` and ``parts`` (None without positions)."""
    from assistant.ledger.queries.screen import screen_readings

    view = read_ledger(ledger_path, lambda ledger: screen_readings(ledger, run_id))
    if view.data is None:
        return View.fail(view.error or ErrorKind.INVALID, view.message or "")
    if not view.data:
        return View.fail(ErrorKind.EMPTY, f"Run {run_id} read no screen.")
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for r in view.data:
        if (r.request_id, r.vision_tier) not in seen:
            seen.add((r.request_id, r.vision_tier))
            unique.append(r)
    return View(
        [
            {
                "label": f"{r.request_id} · {r.vision_tier or r.tier} reading",
                "request_id": r.request_id,
                "tier": r.tier,
                "vision_tier": r.vision_tier,
                "text": r.text,
                "parts": layout_parts(r.layout) if r.layout is not None else None,
            }
            for r in unique
        ]
    )
