"""Screen analysis: one ``_analyze_impl`` hook per provider; the base caches by frame content.

The same screen is never analysed twice by the same model: results are cached on the kept frame's
content digest, and a cache hit costs nothing and makes no call. Across runs, the call cache
(``assistant.providers.cache``) keys a reading on the frame's digest and size: the question is not
part of it, as no adapter sends it (see ``assistant.providers.vision.cloud``).

A reading with positions (OCR's :class:`~assistant.core.screen.ScreenText`) keeps them through both
caches: the frame cache holds the value itself, and the call cache stores
``{"text": ..., "layout": ...}`` (the reading's JSON form); a plain JSON string (a cloud model's
reading, or an entry stored before layouts were kept) loads as text without positions.
"""

from __future__ import annotations

import json
import time
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable

from assistant.core.events import KeptFrame
from assistant.core.screen import ScreenText, layout_of, reading_from_dict
from assistant.providers.base import CallResult, HookOutput, Provider, RetryPolicy


class VisionProvider(Provider):
    cache_size = 64

    def __init__(
        self,
        *,
        model: str,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(model=model, policy=policy, sleep=sleep)
        self._cache: OrderedDict[str, str] = OrderedDict()

    @abstractmethod
    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        """Describe the screen (text first) in plain text."""

    def _encode_value(self, value: str) -> str:
        layout = layout_of(value)
        if layout is None:
            return json.dumps(value, ensure_ascii=False)
        return json.dumps({"text": str(value), "layout": layout.to_dict()}, ensure_ascii=False)

    def _decode_value(self, text: str) -> str:
        value = json.loads(text)
        if isinstance(value, dict):  # a reading with positions
            if not isinstance(value["text"], str):
                raise TypeError(f"a screen reading is text, not {type(value['text']).__name__}")
            return ScreenText(value["text"], reading_from_dict(value["layout"]))
        if not isinstance(value, str):
            raise TypeError(f"a screen reading is text, not {type(value).__name__}")
        return value

    def cached(self, frame: KeptFrame) -> str | None:
        hit = self._cache.get(frame.digest)
        if hit is not None:
            self._cache.move_to_end(frame.digest)
        return hit

    def analyze(self, frame: KeptFrame, question: str) -> CallResult[str]:
        shape = f"{frame.height}x{frame.width}x3"  # as rgb.shape was: a hit converts nothing
        key = self.cache_key("vision", (frame.digest, shape))
        result = self._invoke(lambda: self._analyze_impl(frame, question), key=key)
        self._cache[frame.digest] = result.value
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result
