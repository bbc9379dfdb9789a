"""Screen reading by cloud vision models (OpenAI, Anthropic, Gemini), one request per kept frame:
what their adapters (``providers/vendors/<vendor>/vision.py``) share.

The frame goes as PNG (lossless: small print stays legible; ``image_format="jpeg"`` sends JPEG at
quality 85, several times smaller for photos and video) downscaled to at most ``MAX_WIDTH_PX`` wide,
with ``VISION_PROMPT`` ("read all text on this screen, then describe charts/tables briefly"). The
question is not sent: the base caches the description per frame and reuses it for every question
about the same screen. Usage is the vendor's input/output tokens (the image's tokens are in the
input) with ``image_count=1``. What an image costs in input tokens, per vendor's published rules:

- OpenAI (gpt-4o family): ``detail="low"`` is a flat 85 tokens; ``"high"`` (used here: text must
  be legible) fits the image in 2048x2048, scales its short side down to 768, then costs 170 tokens
  per 512 px tile plus 85 (1280x720 → 6 tiles → 1105 tokens). gpt-4o-mini bills images at about 33x
  those token counts at its lower per-token price, which comes to about the same dollars.
- Anthropic: about ``width * height / 750`` tokens (1280x720 → about 1229); images whose long edge
  exceeds 1568 px are downscaled by the API first, which only adds latency.
- Gemini: 258 tokens for an image with both sides at most 384 px; larger images are cut into
  768x768 tiles at 258 tokens each (1280x720 → about 6 tiles → 1548 tokens).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.core.errors import ProviderError
from assistant.providers.base import RetryPolicy
from assistant.providers.cloud import CloudClient, CloudOptions
from assistant.providers.errors import empty_answer_error
from assistant.providers.vision.base import VisionProvider

MAX_WIDTH_PX = 1280
JPEG_QUALITY = 85
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg")}
VISION_PROMPT = (
    "This is a screenshot of a screen shared in a meeting. Read all text on this screen, in "
    "reading order, then describe charts/tables briefly (what they show, their key numbers). "
    "Plain text, no preamble."
)


def sent_size(width: int, height: int) -> tuple[int, int]:
    """The size a ``width`` x ``height`` frame is sent at (at most ``MAX_WIDTH_PX`` wide)."""
    if width > MAX_WIDTH_PX:
        return MAX_WIDTH_PX, max(round(height * MAX_WIDTH_PX / width), 1)
    return width, height


def encode_frame(rgb: np.ndarray, image_format: str = "png") -> tuple[bytes, str]:
    """An H x W x 3 uint8 frame as (image bytes, MIME type), at most ``MAX_WIDTH_PX`` wide."""
    from PIL import Image

    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ProviderError(f"vision: expected an H x W x 3 frame, got shape {rgb.shape}")
    pil_format, mime = FORMATS[image_format]
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if image.width > MAX_WIDTH_PX:
        image = image.resize(sent_size(image.width, image.height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    options: dict[str, Any] = {"quality": JPEG_QUALITY} if pil_format == "JPEG" else {}
    image.save(buffer, pil_format, **options)
    return buffer.getvalue(), mime


class CloudVision(CloudClient, VisionProvider):
    """What every cloud vision adapter shares: the options check, the frame format, and the
    empty-answer check; each vendor's adapter (``providers/vendors/<vendor>/vision.py``) sends
    one request per frame in ``_analyze_impl``."""

    default_max_output_tokens = 800

    def __init__(
        self,
        options: CloudOptions,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if options.image_format not in FORMATS:
            raise ProviderError(
                f"vision image_format must be png or jpeg, not {options.image_format!r}"
            )
        super().__init__(options, policy=policy, sleep=sleep)

    @property
    def image_format(self) -> str:
        return self.options.image_format

    def _text(self, text: Any, finish: str | None) -> str:
        if not isinstance(text, str) or not text.strip():
            raise empty_answer_error(
                self.provider, finish, provider=self.provider, model=self.model
            )
        return text.strip()
