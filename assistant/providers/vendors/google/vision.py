"""Gemini screen reading: ``generate_content`` with the frame as inline bytes."""

from __future__ import annotations

from assistant.core.events import KeptFrame, Usage
from assistant.providers.base import HookOutput
from assistant.providers.vendors.google.client import (
    GoogleClient,
    answer_parts,
    generation_config,
    read_usage,
    sdk,
)
from assistant.providers.vision.cloud import VISION_PROMPT, CloudVision, encode_frame


class GoogleVision(GoogleClient, CloudVision):
    """``generate_content`` with the frame as inline bytes (``Part.from_bytes``)."""

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        _, types = sdk()
        data, mime = encode_frame(frame.rgb, self.image_format)
        with self._vendor_errors():
            response = self._sdk_client().models.generate_content(
                model=self.model,
                contents=[types.Part.from_bytes(data=data, mime_type=mime), VISION_PROMPT],
                config=generation_config(self.model, self.max_output_tokens),
            )
            tokens = read_usage(response.usage_metadata, model=self.model)
            texts, finish = answer_parts(response)
        usage = Usage(
            input_tokens=tokens.input_tokens, output_tokens=tokens.output_tokens, image_count=1
        )
        resolved = response.model_version if isinstance(response.model_version, str) else None
        return HookOutput(self._text("".join(texts), finish), usage, resolved)
