"""Deepgram speech-to-text: pre-recorded REST for replayed segments, a live WebSocket for rooms.

Both go through deepgram-sdk 7.x (``client.py``: the SDK, its environment, the key and the error
mapping). ``DeepgramTranscriber`` posts each speech segment as
WAV with ``DeepgramClient.listen.v1.media.transcribe_file``; the SDK's own retries are off
(``max_retries=0``: it would retry 429/5xx twice with its own sleeps) since the base owns retries,
and the response shape is checked here because the SDK's models validate nothing. ``DeepgramStream``
uses the SDK's live client, ``AsyncDeepgramClient.listen.v1.connect`` (it accepts a ``ws://``
environment, so no hand-written protocol), yields final ``Results`` as utterances in media time, and
``finish()`` sends ``CloseStream`` and drains to Deepgram's ``Metadata`` and close.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from assistant.core.config import SttConfig
from assistant.core.errors import ProviderError
from assistant.core.events import Usage, Utterance, Word
from assistant.providers.base import HookOutput, RetryPolicy
from assistant.providers.cloud import CloudOptions
from assistant.providers.stt.base import Segment, Transcriber
from assistant.providers.vendors.deepgram.client import (
    DEFAULT_BASE_URL,
    PROVIDER,
    environment,
    map_error,
    sdk,
)
from assistant.providers.vendors.deepgram.client import malformed as _malformed


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """int16 mono samples as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setparams((1, 2, sample_rate, 0, "NONE", "not compressed"))
        out.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()


# -- response mapping -------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _words(items: Any, offset_s: float, model: str) -> tuple[Word, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _malformed("words is not a list", model)
    words = []
    for item in items:
        text = getattr(item, "punctuated_word", None) or getattr(item, "word", None)
        start, end = _number(getattr(item, "start", None)), _number(getattr(item, "end", None))
        if not isinstance(text, str) or start is None or end is None:
            raise _malformed("a word lacks word/start/end", model)
        confidence = _number(getattr(item, "confidence", None))
        words.append(Word(text, round(offset_s + start, 3), round(offset_s + end, 3), confidence))
    return tuple(words)


def _to_utterance(
    item: Any, participant: str, offset_s: float, span: tuple[float, float], model: str
) -> Utterance | None:
    """An alternative or an utterance (transcript, words, confidence) in media time; None if empty."""
    text = getattr(item, "transcript", None)
    if not isinstance(text, str):
        raise _malformed("transcript is not a string", model)
    words = _words(getattr(item, "words", None), offset_s, model)
    if not text.strip():
        return None
    start, end = _number(getattr(item, "start", None)), _number(getattr(item, "end", None))
    if start is not None and end is not None:  # an utterance's own bounds
        span = (round(offset_s + start, 3), round(offset_s + end, 3))
    elif words:
        span = (words[0].start_s, words[-1].end_s)
    start_s, end_s = span
    confidence = _number(getattr(item, "confidence", None))
    return Utterance(participant, start_s, end_s, text.strip(), confidence, words)


def _model_resolved(metadata: Any) -> str | None:
    """``model_info[uuid].arch`` (e.g. "nova-3", the name pricing knows), else its ``name``."""
    info = getattr(metadata, "model_info", None)
    for entry in info.values() if isinstance(info, dict) else ():
        resolved = entry.get("arch") or entry.get("name") if isinstance(entry, dict) else None
        if isinstance(resolved, str):
            return resolved
    return None


def parse_prerecorded(response: Any, segment: Segment, model: str) -> HookOutput[list[Utterance]]:
    """A ``ListenV1Response`` as utterances in media time (segment start + Deepgram's times)."""
    results = getattr(response, "results", None)
    channels = getattr(results, "channels", None)
    if not isinstance(channels, list) or not channels:
        raise _malformed("no results.channels", model)
    alternatives = getattr(channels[0], "alternatives", None)
    if not isinstance(alternatives, list) or not alternatives:
        raise _malformed("no channels[0].alternatives", model)
    span, who = (segment.start_s, segment.end_s), segment.participant
    whole = _to_utterance(alternatives[0], who, segment.start_s, span, model)
    resolved = _model_resolved(getattr(response, "metadata", None))
    items = getattr(results, "utterances", None) or []  # one per pause-separated phrase
    if not isinstance(items, list):
        raise _malformed("utterances is not a list", model)
    parts = [_to_utterance(item, who, segment.start_s, span, model) for item in items]
    utterances = [u for u in parts if u is not None] or ([whole] if whole else [])
    return HookOutput(utterances, Usage(), resolved)


# -- pre-recorded ----------------------------------------------------------------------------
class DeepgramTranscriber(Transcriber):
    provider = PROVIDER
    local = False

    def __init__(
        self,
        options: CloudOptions,
        *,
        config: SttConfig | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(model=options.model, config=config, policy=policy, sleep=sleep)
        self._api_key = options.api_key
        self.base_url = options.base_url or DEFAULT_BASE_URL
        self.timeout_s = options.timeout_s
        self._client: Any = None
        self._http: Any = None

    def __repr__(self) -> str:  # never the key
        return f"DeepgramTranscriber(model={self.model!r}, base_url={self.base_url!r})"

    def warm_up(self) -> None:
        self._sdk_client()

    def _sdk_client(self) -> Any:
        if self._client is None:
            import httpx

            sdk_module = sdk()
            self._http = httpx.Client(timeout=self.timeout_s)
            self._client = sdk_module.DeepgramClient(
                api_key=self._api_key,
                environment=environment(self.base_url),
                httpx_client=self._http,
                timeout=self.timeout_s,
                max_retries=0,  # the base retries; the SDK would retry 429/5xx on its own
            )
        return self._client

    def close(self) -> None:
        """Close the HTTP connection pool (a later call opens a new one)."""
        if self._http is not None:
            self._http.close()
        self._client = self._http = None

    def _transcribe_impl(self, segment: Segment) -> HookOutput[list[Utterance]]:
        audio, client = wav_bytes(segment.samples, segment.sample_rate), self._sdk_client()
        try:
            response = client.listen.v1.media.transcribe_file(
                request=audio,
                model=self.model,
                language=self.config.language,
                smart_format=True,
                punctuate=True,
                utterances=True,
                request_options={"additional_headers": {"content-type": "audio/wav"}},
            )
        except Exception as exc:
            raise map_error(
                exc, model=self.model, api_key=self._api_key, timeout_s=self.timeout_s
            ) from exc
        return parse_prerecorded(response, segment, self.model)


# -- live ------------------------------------------------------------------------------------
_DONE = object()


class DeepgramStream:
    """One live connection for one participant; results are final utterances in media time.

    ``start_s`` is the media time of the first sample sent; Deepgram's live times count from the
    start of the stream. ``audio_s`` is the audio sent so far (what Deepgram bills).
    """

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        language: str = "en",
        base_url: str | None = None,
        sample_rate: int = 16_000,
        participant: str = "",
        start_s: float = 0.0,
        drain_timeout_s: float = 10.0,
    ) -> None:
        self.model, self.language, self.participant = model, language, participant
        self.base_url = base_url or DEFAULT_BASE_URL
        self.sample_rate, self.start_s, self.drain_timeout_s = sample_rate, start_s, drain_timeout_s
        self.samples_sent = 0
        self.model_resolved: str | None = None
        self.request_id: str | None = None  # from Deepgram's closing Metadata
        self._api_key = api_key
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._error: ProviderError | None = None
        self._http: Any = None
        self._connection: Any = None
        self._socket: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._finished = False

    def _map(self, exc: BaseException) -> ProviderError:
        return map_error(
            exc, model=self.model, api_key=self._api_key, timeout_s=self.drain_timeout_s
        )

    async def __aenter__(self) -> DeepgramStream:
        import httpx

        sdk_module = sdk()
        self._http = httpx.AsyncClient()
        client = sdk_module.AsyncDeepgramClient(
            api_key=self._api_key,
            environment=environment(self.base_url),
            httpx_client=self._http,
            max_retries=0,
        )
        self._connection = client.listen.v1.connect(
            model=self.model,
            language=self.language,
            encoding="linear16",
            sample_rate=str(self.sample_rate),
            channels="1",
            punctuate="true",
            smart_format="true",
        )
        try:
            self._socket = await self._connection.__aenter__()
        except Exception as exc:
            await self._http.aclose()
            raise self._map(exc) from exc
        self._reader = asyncio.create_task(self._read(), name=f"deepgram-live-{self.participant}")
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            if exc_info[0] is None and not self._finished:
                await self.finish()
        finally:
            if self._reader is not None and not self._reader.done():
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)
            await self._connection.__aexit__(None, None, None)
            await self._http.aclose()

    async def send(self, samples: np.ndarray) -> None:
        """Send int16 mono samples (the next ``len(samples) / sample_rate`` seconds of audio)."""
        if self._error is not None:
            raise self._error
        data = np.ascontiguousarray(samples, dtype="<i2").tobytes()
        try:
            await self._socket.send_media(data)
        except Exception as exc:
            raise self._map(exc) from exc
        self.samples_sent += len(data) // 2

    @property
    def audio_s(self) -> float:
        """Seconds of audio sent so far: what Deepgram bills."""
        return self.samples_sent / self.sample_rate

    async def finish(self) -> None:
        """Send ``CloseStream`` and wait until Deepgram has sent its last results and closed."""
        if self._finished:
            return
        self._finished = True
        try:
            await self._socket.send_close_stream()
            if self._reader is not None:
                await asyncio.wait_for(asyncio.shield(self._reader), self.drain_timeout_s)
        except Exception as exc:
            raise self._map(exc) from exc
        if self._error is not None:
            raise self._error

    async def results(self) -> AsyncIterator[Utterance]:
        """Final utterances as they arrive, until the stream has closed."""
        while True:
            item = await self._queue.get()
            if item is _DONE:
                self._queue.put_nowait(_DONE)  # later calls end at once too
                if self._error is not None:
                    raise self._error
                return
            yield item

    async def _read(self) -> None:
        try:
            async for message in self._socket:
                kind = getattr(message, "type", None)
                if kind == "Results" and getattr(message, "is_final", False):
                    utterance = self._utterance(message)
                    if utterance is not None:
                        self._queue.put_nowait(utterance)
                elif kind == "Metadata":
                    self.request_id = getattr(message, "request_id", None)
                elif kind == "Error":
                    description = getattr(message, "description", None) or "live error"
                    self._error = ProviderError(
                        f"deepgram: {description}", provider=PROVIDER, model=self.model
                    )
        except Exception as exc:  # the connection dropped, or a malformed message
            self._error = self._map(exc)
        finally:
            self._queue.put_nowait(_DONE)

    def _utterance(self, message: Any) -> Utterance | None:
        alternatives = getattr(getattr(message, "channel", None), "alternatives", None)
        if not isinstance(alternatives, list) or not alternatives:
            raise _malformed("Results without channel.alternatives", self.model)
        info = getattr(getattr(message, "metadata", None), "model_info", None)
        arch = getattr(info, "arch", None) or getattr(info, "name", None)
        self.model_resolved = arch if isinstance(arch, str) else self.model_resolved
        start_s = self.start_s + (_number(getattr(message, "start", None)) or 0.0)
        end_s = start_s + (_number(getattr(message, "duration", None)) or 0.0)
        span = (round(start_s, 3), round(end_s, 3))
        return _to_utterance(alternatives[0], self.participant, self.start_s, span, self.model)
