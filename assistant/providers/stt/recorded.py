"""The dataset's ground-truth transcript as a provider: instant and exact, for fast routing sweeps.

It still goes through the voice-activity gate, so utterances appear when they would have been
transcribed; it bills nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.core.config import SttConfig
from assistant.core.events import Usage, Utterance
from assistant.providers.base import HookOutput
from assistant.providers.stt.base import Segment, Transcriber


class RecordedTranscriber(Transcriber):
    provider = "recorded"
    local = True
    cacheable = False  # what it returns depends on what it has handed out already

    def __init__(
        self, *, model: str, transcript: Sequence[Utterance], config: SttConfig | None = None
    ) -> None:
        super().__init__(model=model, config=config)
        self._pending = sorted(transcript, key=lambda u: u.start_s)
        self._used: set[int] = set()

    def _transcribe_impl(self, segment: Segment) -> HookOutput[list[Utterance]]:
        found = []
        for i, u in enumerate(self._pending):
            if i in self._used or u.participant != segment.participant:
                continue
            mid = (u.start_s + u.end_s) / 2
            if segment.start_s - 0.5 <= mid <= segment.end_s + 0.5:
                self._used.add(i)
                found.append(Utterance(u.participant, u.start_s, u.end_s, u.text, 1.0))
        return HookOutput(found, Usage())
