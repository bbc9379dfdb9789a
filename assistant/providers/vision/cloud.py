"""Screen reading by cloud vision models: OpenAI, Anthropic and Gemini, one request per kept frame.

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

import base64
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.core.errors import ProviderError
from assistant.core.events import KeptFrame, Usage
from assistant.providers.base import HookOutput, RetryPolicy
from assistant.providers.cloud import CloudClient
from assistant.providers.errors import empty_answer_error
from assistant.providers.vendors import anthropic, google, openai
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


class _CloudVision(CloudClient, VisionProvider):
    """Options, client lifecycle and the retry policy; each subclass sends one request per frame
    in ``_analyze_impl``."""

    local = False

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_output_tokens: int = 800,
        image_format: str = "png",
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if image_format not in FORMATS:
            raise ProviderError(f"vision image_format must be png or jpeg, not {image_format!r}")
        super().__init__(
            model=model,
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            max_output_tokens=max_output_tokens,
            policy=policy,
            sleep=sleep,
        )
        self.image_format = image_format

    def _text(self, text: Any, finish: str | None) -> str:
        if not isinstance(text, str) or not text.strip():
            raise empty_answer_error(
                self.provider, finish, provider=self.provider, model=self.model
            )
        return text.strip()


class OpenAIVision(openai.OpenAIClient, _CloudVision):
    """Chat completions with the frame as an ``image_url`` data URL (also OpenAI-compatible
    servers with a vision model: pass ``provider`` and ``base_url``)."""

    provider = openai.VENDOR

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_output_tokens: int = 800,
        image_format: str = "png",
        provider: str = openai.VENDOR,
        local: bool = False,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            model=model,
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            max_output_tokens=max_output_tokens,
            image_format=image_format,
            policy=policy,
            sleep=sleep,
        )
        self.provider, self.local = provider, local

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        data, mime = encode_frame(frame.rgb, self.image_format)
        url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        with self._vendor_errors():
            response = self._sdk_client().chat.completions.create(
                model=self.model,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": VISION_PROMPT},
                            {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                        ],
                    }
                ],
                **self._token_limit(),
            )
            choice = response.choices[0]
            usage = Usage(
                input_tokens=int(response.usage.prompt_tokens),
                output_tokens=int(response.usage.completion_tokens),
                image_count=1,
            )
        text = self._text(choice.message.content, choice.finish_reason)
        return HookOutput(text, usage, response.model if isinstance(response.model, str) else None)


class AnthropicVision(anthropic.AnthropicClient, _CloudVision):
    """Messages API with the frame as a base64 ``image`` content block before the prompt."""

    provider = anthropic.VENDOR

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        data, mime = encode_frame(frame.rgb, self.image_format)
        image = {
            "type": "base64",
            "media_type": mime,
            "data": base64.b64encode(data).decode("ascii"),
        }
        with self._vendor_errors():
            message = self._sdk_client().messages.create(
                model=self.model,
                max_tokens=self.max_output_tokens,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": image},
                            {"type": "text", "text": VISION_PROMPT},
                        ],
                    }
                ],
            )
            input_tokens, output_tokens = anthropic.read_usage(message.usage, model=self.model)
            text = "".join(b.text for b in message.content if getattr(b, "type", None) == "text")
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, image_count=1)
        resolved = message.model if isinstance(message.model, str) else None
        return HookOutput(self._text(text, message.stop_reason), usage, resolved)


class GoogleVision(google.GoogleClient, _CloudVision):
    """``generate_content`` with the frame as inline bytes (``Part.from_bytes``)."""

    provider = google.VENDOR

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        _, types = google.sdk()
        data, mime = encode_frame(frame.rgb, self.image_format)
        with self._vendor_errors():
            response = self._sdk_client().models.generate_content(
                model=self.model,
                contents=[types.Part.from_bytes(data=data, mime_type=mime), VISION_PROMPT],
                config=google.generation_config(self.model, self.max_output_tokens),
            )
            tokens = google.read_usage(response.usage_metadata, model=self.model)
            texts, finish = google.answer_parts(response)
        usage = Usage(
            input_tokens=tokens.input_tokens, output_tokens=tokens.output_tokens, image_count=1
        )
        resolved = response.model_version if isinstance(response.model_version, str) else None
        return HookOutput(self._text("".join(texts), finish), usage, resolved)
