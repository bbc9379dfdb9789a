"""Deepgram adapter through the real deepgram-sdk against a local fake of Deepgram's API."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.fakes.deepgram_server import FakeDeepgram, Reply

from assistant.core.config import SttConfig
from assistant.core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
)
from assistant.core.events import Utterance, Word
from assistant.providers.base import ProviderCallError, RetryPolicy
from assistant.providers.cloud import CloudOptions
from assistant.providers.registry import make_stt
from assistant.providers.stt.base import Segment
from assistant.providers.vendors.deepgram.stt import DeepgramStream, DeepgramTranscriber

pytestmark = [
    # deepgram-sdk 7.17 still imports the legacy websockets client
    pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode:DeprecationWarning"),
]

KEY = "dg-test-SECRET-123"
ROOT = Path(__file__).resolve().parent.parent
RATE = 16_000


@pytest.fixture
def fake() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """What the base slept between attempts (recorded, not slept)."""
    return []


_OPEN: list[DeepgramTranscriber] = []


@pytest.fixture(autouse=True)
def _close_transcribers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def transcriber(
    base_url: str, sleeps: list[float], *, timeout_s: float = 2.0, attempts: int = 3
) -> DeepgramTranscriber:
    stt = DeepgramTranscriber(
        CloudOptions(model="nova-3", api_key=KEY, base_url=base_url, timeout_s=timeout_s),
        config=SttConfig(language="en"),
        policy=RetryPolicy(max_attempts=attempts),
        sleep=sleeps.append,
    )
    _OPEN.append(stt)
    return stt


def segment(start_s: float = 60.0, seconds: float = 3.0) -> Segment:
    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(int(seconds * RATE)) * 3000).astype(np.int16)
    return Segment("alice", start_s, samples, RATE)


def failure(stt: DeepgramTranscriber, seg: Segment) -> ProviderCallError:
    with pytest.raises(ProviderCallError) as caught:
        stt.transcribe(seg)
    return caught.value


def no_key_anywhere(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None:
        chain.append(current)
        current = current.__cause__ or current.__context__
    assert all(KEY not in str(e) and KEY not in repr(e) for e in chain)
    assert KEY not in caplog.text


def test_segment_becomes_media_time_utterances_and_request_is_wav(
    fake: FakeDeepgram, sleeps: list[float]
) -> None:
    stt = transcriber(fake.http_url, sleeps)
    seg = segment(start_s=60.0, seconds=3.0)
    result = stt.transcribe(seg)

    assert result.value == [
        Utterance(
            "alice",
            60.12,
            60.9,
            "Hello, world.",
            0.98,
            (Word("Hello,", 60.12, 60.4, 0.99), Word("world.", 60.48, 60.9, 0.97)),
        ),
        Utterance(
            "alice",
            62.0,
            63.0,
            "Next slide please.",
            0.93,
            (
                Word("Next", 62.0, 62.3, 0.95),
                Word("slide", 62.34, 62.6, 0.93),
                Word("please.", 62.64, 63.0, 0.91),
            ),
        ),
    ]
    assert (result.provider, result.model_requested, result.model_resolved) == (
        "deepgram",
        "nova-3",
        "nova-3",
    )
    assert result.usage.audio_s == pytest.approx(3.0)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (0, 0)
    assert result.attempts == 1 and not result.local

    (request,) = fake.requests
    assert request.path == "/v1/listen"
    assert request.headers["authorization"] == f"Token {KEY}"
    assert request.headers["content-type"] == "audio/wav"
    assert request.query["model"] == "nova-3" and request.query["language"] == "en"
    assert request.query["smart_format"] == "true" and request.query["utterances"] == "true"
    with wave.open(io.BytesIO(request.body)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        assert wav.getnframes() == len(seg.samples)
        assert np.array_equal(np.frombuffer(wav.readframes(len(seg.samples)), "<i2"), seg.samples)


def test_empty_transcript_is_no_utterance_but_still_billed(
    fake: FakeDeepgram, sleeps: list[float]
) -> None:
    fake.replies.append(Reply.transcript([]))
    result = transcriber(fake.http_url, sleeps).transcribe(segment(seconds=1.5))
    assert result.value == []
    assert result.usage.audio_s == pytest.approx(1.5)


def test_429_is_retried_after_retry_after(fake: FakeDeepgram, sleeps: list[float]) -> None:
    fake.replies.append(Reply.error(429, "TOO_MANY_REQUESTS", "Too many requests", retry_after="2"))
    result = transcriber(fake.http_url, sleeps).transcribe(segment())
    assert result.attempts == 2 and len(result.value) == 2
    assert sleeps == [2.0]  # Retry-After, not the 0.5 s backoff
    assert len(fake.requests) == 2  # the SDK did not retry on its own


def test_500_three_times_fails_after_three_attempts(
    fake: FakeDeepgram, sleeps: list[float]
) -> None:
    fake.replies.extend(Reply.error(500, "INTERNAL_SERVER_ERROR", "oops") for _ in range(3))
    caught = failure(transcriber(fake.http_url, sleeps), segment())
    error = caught.failure.error
    assert caught.failure.attempts == 3
    assert isinstance(error, ProviderStatusError) and error.status_code == 500 and error.retryable
    assert len(fake.requests) == 3 and sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [400, 401, 402, 403])
def test_client_errors_are_not_retried_and_never_leak_the_key(
    fake: FakeDeepgram, sleeps: list[float], caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.replies.append(Reply.error(status, "INVALID_AUTH", "Invalid credentials."))
    caught = failure(transcriber(fake.http_url, sleeps), segment())
    error = caught.failure.error
    assert isinstance(error, ProviderStatusError) and error.status_code == status
    assert not error.retryable and caught.failure.attempts == 1 and sleeps == []
    assert len(fake.requests) == 1
    assert ("DEEPGRAM_API_KEY" in str(caught)) == (status in (401, 403))
    assert error.__cause__ is not None  # raised from the SDK's ApiError
    no_key_anywhere(caught, caplog)


def test_timeout_is_retried(fake: FakeDeepgram, sleeps: list[float]) -> None:
    fake.replies.append(Reply.stall(1.5))
    result = transcriber(fake.http_url, sleeps, timeout_s=0.25).transcribe(segment())
    assert result.attempts == 2 and len(result.value) == 2 and len(sleeps) == 1

    fake.replies.append(Reply.stall(1.5))
    caught = failure(transcriber(fake.http_url, sleeps, timeout_s=0.25, attempts=1), segment())
    assert isinstance(caught.failure.error, ProviderTimeoutError)
    assert caught.failure.error.retryable


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        {"request_id": "only-an-id"},
        {"metadata": {}, "results": {"channels": []}},
        {"results": {"channels": [{"alternatives": [{"transcript": 5}]}]}},
        {"results": {"channels": [{"alternatives": [{"transcript": "hi", "words": [{}]}]}]}},
    ],
    ids=["not-json", "no-results", "no-channels", "transcript-not-str", "word-without-times"],
)
def test_malformed_body_is_a_provider_error(
    fake: FakeDeepgram, sleeps: list[float], body: dict[str, object] | bytes
) -> None:
    fake.replies.append(Reply(body=body))
    caught = failure(transcriber(fake.http_url, sleeps), segment())
    error = caught.failure.error
    assert type(error) is ProviderError and "malformed response" in str(error)
    assert caught.failure.attempts == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_a_retryable_connection_error(sleeps: list[float]) -> None:
    caught = failure(transcriber(f"http://127.0.0.1:{free_port()}", sleeps), segment())
    assert isinstance(caught.failure.error, ProviderConnectionError)
    assert caught.failure.attempts == 3


def test_make_deepgram_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    with pytest.raises(ProviderError, match="DEEPGRAM_API_KEY"):
        make_stt("deepgram:nova-3", SttConfig())
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    monkeypatch.setenv("DEEPGRAM_BASE_URL", "http://127.0.0.1:9")
    stt = make_stt("deepgram:nova-3", SttConfig(language="de"))
    assert (stt.spec, stt.base_url, stt.config.language) == (
        "deepgram:nova-3",
        "http://127.0.0.1:9",
        "de",
    )
    assert KEY not in repr(stt)


def test_deepgram_key_from_dotenv_and_secrets_like_every_vendor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.delenv("DEEPGRAM_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"DEEPGRAM_API_KEY={KEY}\nDEEPGRAM_BASE_URL=http://127.0.0.1:9\n")
    stt = make_stt("deepgram:nova-3", SttConfig())
    assert stt.base_url == "http://127.0.0.1:9" and KEY not in repr(stt)
    (tmp_path / ".env").unlink()
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(f'DEEPGRAM_API_KEY = "{KEY}"\n')
    assert make_stt("deepgram:nova-3", SttConfig()).base_url == "https://api.deepgram.com"
    (tmp_path / ".streamlit" / "secrets.toml").write_text("OTHER = 1\n")
    with pytest.raises(ProviderError, match="DEEPGRAM_API_KEY"):
        make_stt("deepgram:nova-3", SttConfig())


def test_stream_yields_final_utterances_in_media_time(
    fake: FakeDeepgram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.live_script = [
        [("Hello", 0.2, 0.5, 0.9), ("there.", 0.55, 0.9, 0.8)],
        [("Next", 1.3, 1.6, 0.95), ("question?", 1.65, 2.1, 0.85)],
        [("Bye.", 2.2, 2.6, 0.7)],  # past the audio sent: flushed by CloseStream
    ]
    chunk = (np.sin(np.arange(1600) / 5) * 8000).astype(np.int16)  # 0.1 s

    async def run() -> tuple[list[Utterance], DeepgramStream]:
        async with DeepgramStream(
            api_key=KEY,
            model="nova-3",
            language="en",
            base_url=fake.ws_url,
            sample_rate=RATE,
            participant="bob",
            start_s=100.0,
        ) as stream:
            got: list[Utterance] = []

            async def collect() -> None:
                got.extend([u async for u in stream.results()])

            consumer = asyncio.create_task(collect())
            for _ in range(25):
                await stream.send(chunk)
                await asyncio.sleep(0)
            await stream.finish()
            await asyncio.wait_for(consumer, 5)
        return got, stream

    utterances, stream = asyncio.run(run())

    assert [u.text for u in utterances] == ["Hello there.", "Next question?", "Bye."]
    first = utterances[0]
    assert (first.participant, first.start_s, first.end_s) == ("bob", 100.2, 100.9)
    assert first.words == (Word("Hello", 100.2, 100.5, 0.9), Word("there.", 100.55, 100.9, 0.8))
    assert utterances[1].start_s == 101.3 and utterances[1].end_s == 102.1
    assert stream.audio_s == pytest.approx(2.5)
    assert stream.model_resolved == "nova-3" and stream.request_id

    (session,) = fake.sessions
    assert session.close_stream_received and session.audio_bytes == 25 * 1600 * 2
    assert session.headers["authorization"] == f"Token {KEY}"
    assert {k: session.query[k] for k in ("model", "language", "encoding", "sample_rate")} == {
        "model": "nova-3",
        "language": "en",
        "encoding": "linear16",
        "sample_rate": "16000",
    }
    assert session.query["channels"] == "1"
    assert sum(1 for m in session.sent if m["type"] == "Results" and not m["is_final"]) == 3
    assert session.sent[-1]["type"] == "Metadata"
    assert KEY not in caplog.text


def test_stream_rejected_key_is_a_status_error(
    fake: FakeDeepgram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.live_reject = Reply.error(401, "INVALID_AUTH", "Invalid credentials.")

    async def run() -> None:
        async with DeepgramStream(api_key=KEY, model="nova-3", base_url=fake.ws_url):
            pass

    with pytest.raises(ProviderStatusError, match="DEEPGRAM_API_KEY") as caught:
        asyncio.run(run())
    assert caught.value.status_code == 401 and not caught.value.retryable
    no_key_anywhere(caught.value, caplog)


def test_importing_the_adapter_does_not_import_the_sdk() -> None:
    code = "import sys, assistant.providers.vendors.deepgram.stt; print(sorted({'deepgram', 'httpx'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
