"""Offline screen reading: RapidOCR (PP-OCR models inside the wheel) on the kept frame.

Two tiers: ``ocr:low`` finds the text on a half-resolution copy capped at 640 px (detection is
what grows with the image's area: measured about 1.6x cheaper than ``full`` on 720p screens) and
then reads each line found from the frame as captured (:func:`read_lines`: recognition works on
each line's crop brought to a fixed height, so a full-resolution crop costs what a half-resolution
one does, and small print is read from its real pixels instead of half of them); ``ocr:full``
finds and reads on the frame as captured. Small print the half-resolution detection misses stays
missed. Screens are upright, so the text-orientation classifier is skipped in both.

Both tiers return the same structured reading (``assistant.providers.vision.layout``: title, text
blocks, tables as rows x columns with their headers, positions) as its Markdown text, which is what
the answerer reads and what the ledger keeps as the frame's reading; the text is a ``ScreenText``
that carries the reading itself, so its positions reach the ledger too
(``request_inputs.screen_layout_json``).
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cache
from typing import Any

import numpy as np

from assistant.core.errors import ProviderError
from assistant.core.events import KeptFrame, Usage
from assistant.core.screen import ScreenReading, ScreenText
from assistant.providers.base import HookOutput
from assistant.providers.vision.base import VisionProvider
from assistant.providers.vision.layout import read_layout, words_from_ocr

SCALES = {"low": 0.5, "full": 1.0}
ENGINE_PARAMS: dict[str, dict[str, object]] = {
    "low": {"Det.limit_type": "max", "Det.limit_side_len": 640},
    "full": {},  # RapidOCR's defaults: the short side brought to at least 736 px
}
# Both tiers. Recognition is most of a reading's time, and almost all of it is the model's
# convolutions over each line brought to 48 px high; RapidOCR pads every line of a batch to the
# batch's widest and to at least 320 px (``rec_img_shape``'s width), so a short cell ("17 M",
# "$1.32M", about 100 px at that height) cost what a 320 px line does: with no floor a batch is
# only as wide as its widest line (lines are sorted by width first), about 40% fewer pixels on
# our screens. onnxruntime keeps its default thread pool: one thread per session was faster only
# while other programs held the cores (docs/decoding.md, "Screen reading cost").
COMMON_PARAMS: dict[str, object] = {
    "Global.log_level": "warning",
    "Global.use_cls": False,
    "Rec.rec_img_shape": [3, 48, 48],
}
_LOCK = threading.Lock()


@cache
def _engine(model: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from rapidocr import RapidOCR
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(
            "offline OCR needs rapidocr and onnxruntime: pip install -r requirements.txt",
            provider="ocr",
        ) from exc
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return RapidOCR(params={**COMMON_PARAMS, **ENGINE_PARAMS[model]})


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return rgb
    from PIL import Image

    height, width = rgb.shape[:2]
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def read_lines(engine: Any, rgb: np.ndarray, *, scale: float) -> tuple[list[Any], list[str]]:
    """Text found on ``rgb`` resized by ``scale`` and read from ``rgb`` itself: the boxes (in
    ``rgb``'s pixels) and texts of the lines recognised with RapidOCR's own confidence floor."""
    from rapidocr.ch_ppocr_rec import TextRecInput
    from rapidocr.utils.process_img import get_rotate_crop_image

    found = engine(_resize(rgb, scale), use_det=True, use_cls=False, use_rec=False)
    if getattr(found, "boxes", None) is None or not len(found.boxes):
        return [], []
    boxes = [np.asarray(b, dtype=np.float32) / scale for b in found.boxes]
    height, width = rgb.shape[:2]
    for b in boxes:  # the scaled corners stay inside the frame
        np.clip(b[:, 0], 0, width - 1, out=b[:, 0])
        np.clip(b[:, 1], 0, height - 1, out=b[:, 1])
    image = engine.load_img(rgb)
    crops = [get_rotate_crop_image(image, b.copy()) for b in boxes]
    read = engine._load_rec_model()(TextRecInput(img=crops))
    if read.txts is None:
        return [], []
    floor = float(engine.text_score)
    kept = [
        (b, str(t))
        for b, t, score in zip(boxes, read.txts, read.scores, strict=True)
        if str(t).strip() and float(score) >= floor
    ]
    return [b for b, _ in kept], [t for _, t in kept]


def lines_in_reading_order(boxes: Any, texts: Any) -> list[str]:
    """Group OCR boxes into rows (by vertical overlap) and read each row left to right."""
    items = []
    for box, text in zip(boxes, texts, strict=True):
        pts = np.asarray(box, dtype=float)
        items.append((pts[:, 1].min(), pts[:, 1].max(), pts[:, 0].min(), str(text)))
    items.sort()
    rows: list[list[tuple[float, float, float, str]]] = []
    for item in items:
        if rows:
            top, bottom = rows[-1][0][0], rows[-1][0][1]
            middle = (item[0] + item[1]) / 2
            if top <= middle <= bottom:
                rows[-1].append(item)
                continue
        rows.append([item])
    return ["  ".join(t for *_, t in sorted(row, key=lambda i: i[2])) for row in rows]


class OcrVision(VisionProvider):
    provider = "ocr"
    local = True
    cpu_scope = "process"  # onnxruntime runs inference on its own thread pool too

    def __init__(self, *, model: str) -> None:
        if model not in SCALES:
            raise ProviderError(
                f"unknown OCR model {model!r}; use one of {sorted(SCALES)}",
                provider="ocr",
                model=model,
            )
        super().__init__(model=model)

    def warm_up(self) -> None:
        _engine(self.model)

    def read(self, frame: KeptFrame) -> ScreenReading:
        """The structured reading of ``frame`` (positions as fractions of the frame)."""
        scale = SCALES[self.model]
        height, width = frame.rgb.shape[:2]
        if scale != 1.0:
            with _LOCK:
                boxes, texts = read_lines(_engine(self.model), frame.rgb, scale=scale)
            return read_layout(words_from_ocr(boxes, texts), width=width, height=height)
        with _LOCK:
            result = _engine(self.model)(frame.rgb, use_det=True, use_cls=False, use_rec=True)
        if result.txts is None or result.boxes is None:
            return ScreenReading()
        words = words_from_ocr(list(result.boxes), list(result.txts))
        return read_layout(words, width=width, height=height)

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        reading = self.read(frame)
        return HookOutput(ScreenText(reading.to_markdown(), reading), Usage(image_count=1))
