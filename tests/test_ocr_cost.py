"""What an offline screen reading costs: recognition reads each batch only as wide as its widest
line (no 320 px floor per line), and the bench section that times it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from assistant.core.events import KeptFrame


def _frame(rgb: np.ndarray) -> KeptFrame:
    return KeptFrame("screen", 0.0, rgb, digest="d", reason="test", change_score=1.0)


def _short_words() -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (1280, 720), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    for row, words in enumerate((("17", "M", "11"), ("Yes", "DS", "42"))):
        for col, word in enumerate(words):
            draw.text((150 + 300 * col, 150 + 200 * row), word, fill="black", font=font)
    return np.asarray(image)


@pytest.mark.parametrize("tier", ["low", "full"])
def test_short_lines_are_recognised_at_their_own_width(
    tier: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.providers.vision import ocr

    engine = ocr._engine(tier)
    rec = engine._load_rec_model()
    widths: list[int] = []
    run = rec.session.__class__.__call__

    def record(session: Any, batch: np.ndarray) -> np.ndarray:
        widths.append(int(batch.shape[-1]))
        return run(session, batch)

    monkeypatch.setattr(rec.session.__class__, "__call__", record)
    text = ocr.OcrVision(model=tier).read(_frame(_short_words())).to_markdown()
    assert "Yes" in text and "17" in text
    # RapidOCR's default pads every line to at least 320 px
    assert widths and min(widths) < 320


def test_ocr_bench_section_times_both_tiers_before_and_after() -> None:
    from assistant.benchmarks.ocr_bench import demo_frames, run
    from assistant.benchmarks.sections import SECTIONS

    assert "ocr" in SECTIONS
    frames = demo_frames(limit=2)
    assert len(frames) == 2 and frames[0].shape == (720, 1280, 3)
    figures = run(quick=True, say=lambda message: None)
    assert [f.name.split(",")[1].strip() for f in figures] == ["ocr:low", "ocr:full"]
    for figure in figures:
        assert figure.baseline_value is not None and figure.baseline_value > 0
        assert figure.ratio == pytest.approx(figure.baseline_value / figure.value)
        assert figure.extra["frames"] == 2
