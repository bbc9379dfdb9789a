"""Anthropic screen reading: the Messages API with the frame as a base64 ``image`` block."""

from __future__ import annotations

import base64

from assistant.core.events import KeptFrame, Usage
from assistant.providers.base import HookOutput
from assistant.providers.vendors.anthropic.client import AnthropicClient, read_usage
from assistant.providers.vision.cloud import VISION_PROMPT, CloudVision, encode_frame


class AnthropicVision(AnthropicClient, CloudVision):
    """Messages API with the frame as a base64 ``image`` content block before the prompt."""

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
            input_tokens, output_tokens = read_usage(message.usage, model=self.model)
            text = "".join(b.text for b in message.content if getattr(b, "type", None) == "text")
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, image_count=1)
        resolved = message.model if isinstance(message.model, str) else None
        return HookOutput(self._text(text, message.stop_reason), usage, resolved)
