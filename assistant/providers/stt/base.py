"""Transcription: voice-activity gating in the base, one ``_transcribe_impl`` hook per provider.

Audio arrives as chunks per participant. The base finds speech with a cheap energy gate on 30 ms
frames, so silence is never sent to a provider (nor billed); when an utterance ends (a pause of
``hangover_s``, or ``max_utterance_s`` of speech) it calls the hook once, through the shared retry
and timing policy, and bills the speech seconds sent.
"""

from __future__ import annotations

import json
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.core.config import SttConfig
from assistant.core.events import AudioChunk, Usage, Utterance, Word
from assistant.providers.base import CallResult, HookOutput, Provider, RetryPolicy

FRAME_S = 0.03
PAD_S = 0.2


@dataclass(frozen=True, slots=True)
class Segment:
    participant: str
    start_s: float
    samples: np.ndarray  # int16 mono
    sample_rate: int

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / self.sample_rate


@dataclass(slots=True)
class _Track:
    """Per-participant gate state."""

    buffer: list[np.ndarray] = field(default_factory=list)
    buffer_start_s: float = 0.0
    in_speech: bool = False
    speech_start_s: float = 0.0
    last_voice_s: float = 0.0
    preroll: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    remainder: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    remainder_t_s: float = 0.0
    sample_rate: int = 16_000


@dataclass(frozen=True, slots=True)
class TranscriptCall:
    """One provider call over one speech segment."""

    segment_start_s: float
    segment_end_s: float
    participant: str
    result: CallResult[list[Utterance]]


class Transcriber(Provider):
    def __init__(
        self,
        *,
        model: str,
        config: SttConfig | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(model=model, policy=policy, sleep=sleep)
        self.config = config or SttConfig()
        self._tracks: dict[str, _Track] = {}

    @abstractmethod
    def _transcribe_impl(self, segment: Segment) -> HookOutput[list[Utterance]]:
        """Transcribe one speech segment; utterance times are media seconds."""

    def transcribe(self, segment: Segment) -> CallResult[list[Utterance]]:
        key = self.cache_key(
            "stt",
            (
                segment.participant,
                repr(segment.start_s),  # utterance times are media seconds: they depend on it
                str(segment.sample_rate),
                np.ascontiguousarray(segment.samples, dtype=np.int16).tobytes(),
            ),
        )
        return self._invoke(lambda: self._with_audio_usage(segment), key=key)

    def cache_options(self) -> dict[str, Any]:
        return {**super().cache_options(), "language": self.config.language}

    def _encode_value(self, value: list[Utterance]) -> str:
        return json.dumps([_utterance_json(u) for u in value], ensure_ascii=False)

    def _decode_value(self, text: str) -> list[Utterance]:
        return [
            Utterance(
                u["participant"],
                float(u["start_s"]),
                float(u["end_s"]),
                u["text"],
                u["confidence"],
                tuple(Word(w[0], float(w[1]), float(w[2]), w[3]) for w in u["words"]),
            )
            for u in json.loads(text)
        ]

    def _with_audio_usage(self, segment: Segment) -> HookOutput[list[Utterance]]:
        out = self._transcribe_impl(segment)
        audio_s = len(segment.samples) / segment.sample_rate
        usage = Usage(
            out.usage.input_tokens, out.usage.output_tokens, 0, audio_s, out.usage.compute_s
        )
        return HookOutput(out.value, usage, out.model_resolved, out.ttft_ms)

    # -- voice-activity gate -------------------------------------------------------------------
    @property
    def speaking(self) -> bool:
        """True while any participant is inside an utterance (drives the voice-activity sampler)."""
        return any(track.in_speech for track in self._tracks.values())

    def push(self, chunk: AudioChunk) -> list[Segment]:
        """Feed audio; returns the speech segments that this chunk closed."""
        track = self._tracks.setdefault(chunk.participant, _Track())
        rate = track.sample_rate = chunk.sample_rate
        frame_n = int(FRAME_S * rate)
        samples = (
            np.concatenate([track.remainder, chunk.samples])
            if len(track.remainder)
            else chunk.samples
        )
        t0 = chunk.t_s - len(track.remainder) / rate
        usable = len(samples) - len(samples) % frame_n
        track.remainder, track.remainder_t_s = samples[usable:], t0 + usable / rate
        closed: list[Segment] = []
        if usable == 0:
            return closed
        frames = samples[:usable].reshape(-1, frame_n).astype(np.float32)
        rms = np.sqrt(np.mean(frames * frames, axis=1)) / 32768.0
        loud = 20 * np.log10(np.maximum(rms, 1e-9)) > self.config.vad_threshold_dbfs
        preroll_n = int(PAD_S * rate)
        for i, is_loud in enumerate(loud):
            t = t0 + i * FRAME_S
            frame = samples[i * frame_n : (i + 1) * frame_n]
            if not track.in_speech:
                if is_loud:
                    track.in_speech = True
                    track.speech_start_s = t - len(track.preroll) / rate
                    track.buffer = [track.preroll, frame]
                    track.last_voice_s = t
                else:
                    track.preroll = np.concatenate([track.preroll, frame])[-preroll_n:]
                continue
            track.buffer.append(frame)
            if is_loud:
                track.last_voice_s = t
            long = t + FRAME_S - track.speech_start_s >= self.config.max_utterance_s
            if t - track.last_voice_s >= self.config.vad_hangover_s or long:
                closed.append(self._close(chunk.participant, track, rate, trim=not long))
        return closed

    def _close(self, participant: str, track: _Track, rate: int, *, trim: bool) -> Segment:
        audio = np.concatenate(track.buffer)
        if trim:  # keep PAD_S of the trailing silence, drop the rest of the hangover
            keep = int((track.last_voice_s + FRAME_S + PAD_S - track.speech_start_s) * rate)
            audio = audio[:keep]
        segment = Segment(participant, max(track.speech_start_s, 0.0), audio, rate)
        track.in_speech = False
        track.buffer = []
        track.preroll = np.zeros(0, np.int16)
        return segment

    def flush(self) -> list[Segment]:
        """End of stream: close every open utterance."""
        closed = []
        for participant, track in self._tracks.items():
            if track.in_speech and track.buffer:
                closed.append(self._close(participant, track, track.sample_rate, trim=False))
        return closed


def _utterance_json(u: Utterance) -> dict[str, Any]:
    return {
        "participant": u.participant,
        "start_s": u.start_s,
        "end_s": u.end_s,
        "text": u.text,
        "confidence": u.confidence,
        "words": [[w.text, w.start_s, w.end_s, w.confidence] for w in u.words],
    }
