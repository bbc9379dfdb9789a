"""The cheap OCR tier reads small print from the frame's own pixels, and the offline answerer
reads tables the way a person does (synthetic screens and readings built here)."""

from __future__ import annotations

import numpy as np

from assistant.core.events import KeptFrame


def _frame(rgb: np.ndarray) -> KeptFrame:
    return KeptFrame("screen", 0.0, rgb, digest="d", reason="test", change_score=1.0)


def test_cheap_ocr_reads_small_print_from_full_resolution_crops() -> None:
    from PIL import Image, ImageDraw, ImageFont

    from assistant.providers.vision.ocr import OcrVision

    image = Image.new("RGB", (1280, 720), "white")
    draw = ImageDraw.Draw(image)
    # 10 px letters: 5 px at half resolution
    draw.text((100, 100), "Date of check: 2020-06-02 Codechecker: Daniel", fill="black",
              font=ImageFont.load_default(size=10))
    draw.text((100, 300), "Summary of output files", fill="black",
              font=ImageFont.load_default(size=40))
    reading = OcrVision(model="low").read(_frame(np.asarray(image)))
    text = reading.to_markdown()
    assert "Date" in text and "Codechecker" in text  # "Dete ofcheck ... Cadechecker" at half
    assert "2020-06-02" in text
    # positions are fractions of the frame as captured
    block = next(b for b in reading.blocks if "Summary" in b.text)
    assert block.box is not None and 0.05 < block.box.x0 < 0.1 and 0.4 < block.box.y0 < 0.45
