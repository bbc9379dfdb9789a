"""OpenAI screen reading: chat completions with the frame as a ``detail="high"`` data URL
(``providers.vision.cloud`` says what the frame costs in tokens and how it is encoded)."""

from __future__ import annotations

import base64

from assistant.core.events import KeptFrame, Usage
from assistant.providers.base import HookOutput
from assistant.providers.vendors.openai.client import OpenAIClient
from assistant.providers.vision.cloud import VISION_PROMPT, CloudVision, encode_frame


class OpenAIVision(OpenAIClient, CloudVision):
    """Chat completions with the frame as an ``image_url`` data URL (also OpenAI-compatible
    servers with a vision model: set ``CloudOptions.provider`` and ``base_url``)."""

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
