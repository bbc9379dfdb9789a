"""Screen readings as recorded (``request_inputs``): each request's frame reading, as text and, for
readings with positions (OCR's), as the structured reading (``screen_layout_json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.core.errors import LedgerError
from assistant.core.screen import ScreenReading, reading_from_json

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger


@dataclass(frozen=True, slots=True)
class StoredReading:
    """One tier's reading of a request's screen: its text (Markdown for OCR) and its structure
    with positions (None when it has none: a cloud model's reading, or one recorded before
    migration 14)."""

    request_id: str
    tier: str  # the answer's tier of that row
    vision_tier: str | None  # the tier that read the screen
    text: str
    layout: ScreenReading | None


def screen_readings(
    ledger: Ledger, run_id: str, *, request_id: str | None = None
) -> list[StoredReading]:
    """The screen readings ``run_id`` recorded (of ``request_id`` only, if given), in request
    order; rows whose tier made no vision call are left out."""
    sql = (
        "SELECT i.request_id, i.tier, i.vision_tier, i.screen_text, i.screen_layout_json "
        "FROM request_inputs AS i "
        "LEFT JOIN requests AS q ON q.request_id = i.request_id AND q.run_id = i.run_id "
        "WHERE i.run_id = ? AND i.screen_text IS NOT NULL"
    )
    params: list[object] = [run_id]
    if request_id is not None:
        sql += " AND i.request_id = ?"
        params.append(request_id)
    rows = ledger.cursor().execute(sql + " ORDER BY q.media_t_s, i.request_id, i.tier", params)
    out = []
    for request, tier, vision_tier, text, layout_json in rows.fetchall():
        layout = None
        if layout_json is not None:
            try:
                layout = reading_from_json(layout_json)
            except ValueError as exc:
                raise LedgerError(
                    f"run {run_id}, request {request} ({tier}): its stored screen layout does not "
                    f"read back: {exc}"
                ) from exc
        out.append(StoredReading(str(request), str(tier), vision_tier, str(text), layout))
    return out
