"""OCR time per screen reading, per tier, against RapidOCR with the settings used before.

Frames: the demo's screen at the time of each question that needs it (what a replay reads),
decoded from ``screen.mp4``; with ``--quick`` the first two. Per tier, each frame is read by
the tier as it is now (``OcrVision.read``) and by the same tier on an engine built with the old
settings (:data:`BEFORE_PARAMS`: RapidOCR's own recognition floor of 320 px per line and its
default thread pools), alternately, after one warm-up reading each, so both see the same load
on a shared machine. The figure is the median time per reading; the ratio is before / after.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from assistant.benchmarks.harness import Figure, percentile

SECTION = "ocr"
# what ``ocr._engine`` built before recognition lost its 320 px floor per line
BEFORE_PARAMS: dict[str, object] = {"Global.log_level": "warning", "Global.use_cls": False}


def demo_frames(*, limit: int | None = None) -> list[Any]:
    """RGB arrays of the demo's screen at each screen question's time, in time order."""
    from assistant.core.paths import DEMO_DATASET
    from assistant.sessions.media import iter_video

    lines = (DEMO_DATASET / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    asked = sorted({json.loads(line)["t_s"] for line in lines if '"needs_screen": true' in line})
    asked = asked[:limit] if limit is not None else asked
    frames = []
    for frame in iter_video(DEMO_DATASET / "screen.mp4", stop_s=asked[-1] + 1.0):
        while asked and frame.t_s >= asked[0]:
            frames.append(frame.to_rgb())
            asked.pop(0)
        if not asked:
            break
    return frames


def _before_read(tier: str, engine: Any, rgb: Any) -> Any:
    """The tier's reading as ``OcrVision.read`` makes it, on ``engine``."""
    from assistant.providers.vision import ocr
    from assistant.providers.vision.layout import read_layout, words_from_ocr

    height, width = rgb.shape[:2]
    if ocr.SCALES[tier] != 1.0:
        boxes, texts = ocr.read_lines(engine, rgb, scale=ocr.SCALES[tier])
        return read_layout(words_from_ocr(boxes, texts), width=width, height=height)
    result = engine(rgb, use_det=True, use_cls=False, use_rec=True)
    if result.txts is None or result.boxes is None:
        return None
    words = words_from_ocr(list(result.boxes), list(result.txts))
    return read_layout(words, width=width, height=height)


def run(*, quick: bool, say: Callable[[str], None]) -> list[Figure]:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rapidocr import RapidOCR

    from assistant.core.events import KeptFrame
    from assistant.providers.vision import ocr

    frames = demo_frames(limit=2 if quick else None)
    say(f"ocr: {len(frames)} demo frames at its screen questions, before vs after, per tier")
    kept = [
        KeptFrame("screen", float(i), rgb, digest=f"bench-{i}", reason="bench", change_score=0.0)
        for i, rgb in enumerate(frames)
    ]
    figures = []
    for tier in ("low", "full"):
        after = ocr.OcrVision(model=tier)
        before = RapidOCR(params={**BEFORE_PARAMS, **ocr.ENGINE_PARAMS[tier]})
        after.read(kept[0])  # warm-up: sessions built, first-run allocations made
        _before_read(tier, before, frames[0])
        before_s: list[float] = []
        after_s: list[float] = []
        for frame, rgb in zip(kept, frames, strict=True):
            t0 = time.perf_counter()
            _before_read(tier, before, rgb)
            t1 = time.perf_counter()
            after.read(frame)
            after_s.append(time.perf_counter() - t1)
            before_s.append(t1 - t0)
        after_ms = percentile([s * 1000 for s in after_s], 50)
        before_ms = percentile([s * 1000 for s in before_s], 50)
        height, width = frames[0].shape[:2]
        figures.append(
            Figure(
                section=SECTION,
                name=f"OCR time per reading, ocr:{tier}, {width}x{height} demo frames",
                value=after_ms,
                unit="ms",
                baseline="the same tier on RapidOCR's defaults (320 px line floor, its threads)",
                baseline_value=before_ms,
                ratio=before_ms / after_ms if after_ms else None,
                target="cheaper than before",
                target_ratio=1.0,
                detail=f"median of {len(frames)} readings, before and after alternating",
                extra={
                    "before_total_s": sum(before_s),
                    "after_total_s": sum(after_s),
                    "frames": len(frames),
                },
            )
        )
    return figures
