"""Cloud answerers and screen readers through the real SDKs (openai, anthropic, google-genai)
against a local fake that speaks each vendor's documented HTTP format; plus keys and specs."""

from __future__ import annotations

import base64
import io
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from support.fakes.vendors import MODELS, FakeVendors, Reply, Vendor

from assistant.core.errors import (
    ConfigError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
)
from assistant.core.events import KeptFrame, Passage
from assistant.providers import registry
from assistant.providers.base import CallFailure, Provider, ProviderCallError, RetryPolicy
from assistant.providers.cloud import CloudOptions
from assistant.providers.keys import get_key, parse_dotenv, redact, resolve_cloud
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.llm.prompts import parse_answer, user_message
from assistant.providers.vendors.anthropic.llm import AnthropicLLM
from assistant.providers.vendors.anthropic.vision import AnthropicVision
from assistant.providers.vendors.google.llm import GoogleLLM
from assistant.providers.vendors.google.vision import GoogleVision
from assistant.providers.vendors.openai.llm import OpenAILLM
from assistant.providers.vendors.openai.vision import OpenAIVision

KEY = "sk-test-SECRET-4f9a0c1d2e3b"
VENDORS: tuple[Vendor, ...] = ("openai", "anthropic", "google")
REQUESTED = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-6",
    "google": "gemini-2.5-flash",
}
KEY_ENV_NAMES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")
REQUEST = AnswerRequest(
    question="When is the launch, and what is the budget?",
    screen=(Passage("screen", "Roadmap\nLaunch: 14 March"),),
    knowledge=(Passage("kb:plan.md#1", "The budget for the launch is $40k."),),
    transcript=(Passage("transcript:alice@01:23", "Alice: we agreed on forty thousand."),),
)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: any connection to a non-loopback address fails the test."""
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        assert host in ("127.0.0.1", "::1") or self.family == socket.AF_UNIX, f"network: {address}"
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def fake() -> Iterator[FakeVendors]:
    with FakeVendors() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """What the base slept between attempts (recorded, not slept)."""
    return []


_OPEN: list[Provider] = []


@pytest.fixture(autouse=True)
def _close_providers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def make_llm(
    vendor: Vendor,
    fake: FakeVendors,
    sleeps: list[float],
    *,
    timeout_s: float = 5.0,
    attempts: int = 3,
) -> LLM:
    classes = {"openai": OpenAILLM, "anthropic": AnthropicLLM, "google": GoogleLLM}
    options = CloudOptions(
        model=REQUESTED[vendor],
        api_key=KEY,
        base_url=fake.openai_url if vendor == "openai" else fake.url,
        timeout_s=timeout_s,
    )
    llm: LLM = classes[vendor](
        options, policy=RetryPolicy(max_attempts=attempts), sleep=sleeps.append
    )
    _OPEN.append(llm)
    return llm


def camel(value: Any) -> Any:
    """A JSON body with snake_case keys as camelCase: google-genai 3.4 sends some nested fields
    (``thinking_budget``, ``mime_type``) in proto field names, which the API's JSON accepts too."""
    if isinstance(value, dict):
        return {
            re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): camel(v) for k, v in value.items()
        }
    return [camel(v) for v in value] if isinstance(value, list) else value


def failure_of(llm: LLM) -> CallFailure:
    with pytest.raises(ProviderCallError) as info:
        llm.answer(REQUEST)
    return info.value.failure


# -- answers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
def test_streamed_answer_maps_citations_usage_and_ttft(
    vendor: Vendor, fake: FakeVendors, sleeps: list[float]
) -> None:
    result = make_llm(vendor, fake, sleeps).answer(REQUEST)

    # the fake cites [1] (screen) then [3][2] (transcript, knowledge): renumbered in citation order
    assert result.value.text == "The launch moved to 14 March [1]; the budget is $40k [2][3]."
    sources = [c.source for c in result.value.citations]
    assert sources == ["screen", "transcript:alice@01:23", "kb:plan.md#1"]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (123, 17)
    assert result.model_requested == REQUESTED[vendor]
    assert result.model_resolved == MODELS[vendor]
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms
    assert (result.provider, result.attempts, result.local, result.usage.compute_s) == (
        vendor,
        1,
        False,
        0.0,
    )
    (sent,) = fake.of(vendor)
    body = sent.body
    if vendor == "openai":
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        assert body["max_completion_tokens"] == 300 and body["model"] == "gpt-4o-mini"
        system, user = body["messages"]
        assert system["role"] == "system" and "[n]" in system["content"]
        prompt = user["content"]
        assert sent.headers["authorization"] == f"Bearer {KEY}"
    elif vendor == "anthropic":
        assert body["stream"] is True and body["max_tokens"] == 300
        assert "[n]" in body["system"]
        prompt = body["messages"][0]["content"]
        assert sent.headers["authorization"] == f"Bearer {KEY}"  # anthropic 2.x: no x-api-key
    else:
        assert sent.path == "/v1/models/gemini-2.5-flash:streamGenerateContent"
        assert sent.query == {"alt": "sse"} and sent.headers["x-goog-api-key"] == KEY
        assert "[n]" in body["systemInstruction"]["parts"][0]["text"]
        config = camel(body["generationConfig"])
        assert config["maxOutputTokens"] == 300
        assert config["thinkingConfig"] == {"thinkingBudget": 0}  # 2.5 Flash: no hidden thinking
        prompt = body["contents"][0]["parts"][0]["text"]
    assert prompt == user_message(REQUEST)
    assert "[1] (screen) Roadmap\nLaunch: 14 March" in prompt
    assert "[3] (transcript, alice at 01:23) Alice: we agreed on forty thousand." in prompt
    assert prompt.endswith("Question: When is the launch, and what is the budget?")


@pytest.mark.parametrize("vendor", VENDORS)
def test_rate_limit_is_retried_after_the_advertised_delay(
    vendor: Vendor, fake: FakeVendors, sleeps: list[float]
) -> None:
    fake.push(vendor, Reply.rate_limited(retry_after_s=2), Reply.answer())
    result = make_llm(vendor, fake, sleeps).answer(REQUEST)
    assert result.attempts == 2
    assert sleeps == [2.0]  # Retry-After header (OpenAI, Anthropic), RetryInfo.retryDelay (Gemini)
    assert len(fake.of(vendor)) == 2  # the SDK did not retry on its own


@pytest.mark.parametrize(("vendor", "status"), [*((v, 500) for v in VENDORS), ("anthropic", 529)])
def test_server_errors_are_retried_then_fail(
    vendor: Vendor, status: int, fake: FakeVendors, sleeps: list[float]
) -> None:
    fake.push(vendor, *[Reply.server_error(status)] * 3)
    failure = failure_of(make_llm(vendor, fake, sleeps))
    assert failure.attempts == 3 and len(fake.of(vendor)) == 3
    assert isinstance(failure.error, ProviderStatusError) and failure.error.retryable
    assert failure.error.status_code == status
    assert sleeps == [0.5, 1.0]  # the base's backoff, no Retry-After


@pytest.mark.parametrize("vendor", VENDORS)
def test_rejected_key_is_not_retried_and_never_shown(
    vendor: Vendor, fake: FakeVendors, sleeps: list[float]
) -> None:
    fake.push(vendor, Reply.bad_key())  # the fake's error body echoes the key it was sent
    failure = failure_of(make_llm(vendor, fake, sleeps))
    assert failure.attempts == 1 and not failure.error.retryable and sleeps == []
    message = str(failure.error)
    assert KEY not in message and KEY not in repr(failure.error.args)
    assert "***" in message  # the echoed key, redacted
    env = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GOOGLE_API_KEY"}
    assert env[vendor] in message


@pytest.mark.parametrize("vendor", VENDORS)
def test_unknown_model_is_not_retried_and_says_so(
    vendor: Vendor, fake: FakeVendors, sleeps: list[float]
) -> None:
    fake.push(vendor, Reply.not_found())
    failure = failure_of(make_llm(vendor, fake, sleeps))
    assert failure.attempts == 1 and not failure.error.retryable
    assert f"does not know model {REQUESTED[vendor]!r}" in str(failure.error)


@pytest.mark.parametrize("vendor", VENDORS)
def test_timeout(vendor: Vendor, fake: FakeVendors, sleeps: list[float]) -> None:
    fake.push(vendor, Reply.stall(5.0))
    failure = failure_of(make_llm(vendor, fake, sleeps, timeout_s=0.3, attempts=1))
    assert type(failure.error) is ProviderTimeoutError and failure.error.retryable
    assert "0.3 s" in str(failure.error)


@pytest.mark.parametrize("vendor", VENDORS)
def test_malformed_stream_is_an_error_not_retried(
    vendor: Vendor, fake: FakeVendors, sleeps: list[float]
) -> None:
    fake.push(vendor, Reply.malformed(stream=True))
    failure = failure_of(make_llm(vendor, fake, sleeps))
    assert type(failure.error) is ProviderError and failure.attempts == 1
    assert "malformed response" in str(failure.error)


@pytest.mark.parametrize("how", ["reset", "clean"])
@pytest.mark.parametrize("vendor", VENDORS)
def test_stream_cut_mid_way_is_an_error(
    vendor: Vendor, how: str, fake: FakeVendors, sleeps: list[float]
) -> None:
    fake.push(vendor, Reply.cut_stream(after=2, how=how))  # type: ignore[arg-type]
    failure = failure_of(make_llm(vendor, fake, sleeps))
    assert type(failure.error) is ProviderError and failure.attempts == 1
    assert "cut mid-way" in str(failure.error)


@pytest.mark.parametrize(
    ("vendor", "status"), [("openai", 500), ("anthropic", 529), ("google", 503)]
)
def test_error_event_inside_the_stream_is_retried(
    vendor: Vendor, status: int, fake: FakeVendors, sleeps: list[float]
) -> None:
    fake.push(vendor, Reply.stream_error(after=2), Reply.answer("Fine [1]."))
    result = make_llm(vendor, fake, sleeps).answer(REQUEST)
    assert (result.attempts, result.value.text, sleeps) == (2, "Fine [1].", [0.5])
    fake.push(vendor, Reply.stream_error(after=2))
    failure = failure_of(make_llm(vendor, fake, sleeps, attempts=1))
    assert isinstance(failure.error, ProviderStatusError) and failure.error.status_code == status


def test_openai_compatible_server(fake: FakeVendors, sleeps: list[float]) -> None:
    llm = OpenAILLM(
        CloudOptions(
            model="llama3.2",
            api_key="not-needed",
            base_url=fake.openai_url,
            provider="ollama",
            local=True,
        )
    )
    _OPEN.append(llm)
    result = llm.answer(REQUEST)
    assert (result.provider, result.local) == ("ollama", True)
    assert result.usage.compute_s > 0  # a loopback server is priced by compute seconds
    (sent,) = fake.of("openai")
    assert sent.body["max_tokens"] == 300 and "max_completion_tokens" not in sent.body
    with pytest.raises(ProviderError, match="OLLAMA_BASE_URL"):
        OpenAILLM(CloudOptions(model="llama3.2", api_key="x", provider="ollama"))


# -- vision ----------------------------------------------------------------------------------------
def frame(width: int = 1600, height: int = 900) -> KeptFrame:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[:, : width // 2] = (240, 240, 240)
    rgb[100:140, 100:900] = (20, 20, 20)  # a line of "text"
    return KeptFrame(
        track="screen", t_s=12.0, rgb=rgb, digest="d1", reason="change", change_score=1.0
    )


def sent_image(vendor: Vendor, body: dict[str, Any]) -> tuple[str, bytes]:
    """(MIME type, bytes) of the image in a vision request, where each vendor documents it."""
    if vendor == "openai":
        (part,) = [p for p in body["messages"][0]["content"] if p["type"] == "image_url"]
        assert part["image_url"]["detail"] == "high"
        head, _, data = part["image_url"]["url"].partition(";base64,")
        return head.removeprefix("data:"), base64.b64decode(data)
    if vendor == "anthropic":
        (part,) = [p for p in body["messages"][0]["content"] if p["type"] == "image"]
        return part["source"]["media_type"], base64.b64decode(part["source"]["data"])
    (part,) = [p for p in camel(body)["contents"][0]["parts"] if "inlineData" in p]
    data = part["inlineData"]["data"]  # google-genai encodes bytes URL-safe; the API takes both
    return part["inlineData"]["mimeType"], base64.urlsafe_b64decode(
        data.replace("+", "-").replace("/", "_")
    )


@pytest.mark.parametrize(
    ("vendor", "image_format"), [("openai", "png"), ("anthropic", "png"), ("google", "jpeg")]
)
def test_vision_sends_the_frame_and_maps_usage(
    vendor: Vendor, image_format: str, fake: FakeVendors, sleeps: list[float]
) -> None:
    classes = {"openai": OpenAIVision, "anthropic": AnthropicVision, "google": GoogleVision}
    base_url = fake.openai_url if vendor == "openai" else fake.url
    options = CloudOptions(
        model=REQUESTED[vendor], api_key=KEY, base_url=base_url, image_format=image_format
    )
    vision = classes[vendor](options, policy=RetryPolicy(max_attempts=2), sleep=sleeps.append)
    _OPEN.append(vision)
    fake.push(vendor, Reply.rate_limited(1), Reply.answer("Roadmap\n", "Launch: 14 March"))
    result = vision.analyze(frame(), "when is the launch?")
    assert result.value == "Roadmap\nLaunch: 14 March"
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.image_count) == (123, 17, 1)
    assert result.model_resolved == MODELS[vendor] and result.attempts == 2 and sleeps == [1.0]
    mime, data = sent_image(vendor, fake.of(vendor)[-1].body)
    assert mime == f"image/{image_format}"
    image = Image.open(io.BytesIO(data))
    assert image.format == image_format.upper() and image.size == (1280, 720)  # downscaled
    assert "when is the launch" not in str(
        fake.of(vendor)[-1].body
    )  # cached per frame, not question
    assert vision.cached(frame()) == result.value


# -- keys and specs -------------------------------------------------------------------------------
@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working directory and none of the vendors' variables set."""
    for name in (*KEY_ENV_NAMES, "OLLAMA_BASE_URL", "OPENAI_COMPATIBLE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_key_order_env_then_dotenv_then_secrets(
    no_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_key("OPENAI_API_KEY") is None
    (no_keys / ".streamlit").mkdir()
    (no_keys / ".streamlit" / "secrets.toml").write_text('OPENAI_API_KEY = "from-secrets"\n')
    assert get_key("OPENAI_API_KEY") == "from-secrets"
    (no_keys / ".env").write_text("# keys\nexport OPENAI_API_KEY='from-dotenv'  # comment\n")
    assert get_key("OPENAI_API_KEY") == "from-dotenv"
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    assert get_key("OPENAI_API_KEY") == "from-env"
    (no_keys / ".streamlit" / "secrets.toml").write_text("OPENAI_API_KEY = \n")
    with pytest.raises(ConfigError, match=r"secrets\.toml: not valid TOML"):
        get_key("ANTHROPIC_API_KEY")


def test_dotenv_and_redact() -> None:
    text = 'A=1\n  export B = "two words" # note\nC=plain # comment\nnot a line\nD=\n#E=5\nA=3'
    assert parse_dotenv(text) == {"A": "3", "B": "two words", "C": "plain", "D": ""}
    assert redact("key sk-abc123 and sk-abc1234", ["sk-abc123", "sk-abc1234", None, ""]) == (
        "key *** and ***"
    )


def test_specs_resolve_keys_and_name_missing_ones(
    no_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ProviderError, match="set OPENAI_API_KEY"):
        registry.make_llm("openai:gpt-4o-mini")
    with pytest.raises(ProviderError, match="set GOOGLE_API_KEY or GEMINI_API_KEY"):
        registry.make_vision("google:gemini-2.5-flash")
    with pytest.raises(ProviderError, match="OPENAI_COMPATIBLE_BASE_URL"):
        registry.make_llm("openai-compatible:qwen3")
    (no_keys / ".env").write_text(f"GEMINI_API_KEY={KEY}\nANTHROPIC_API_KEY={KEY}\n")
    google = registry.make_llm("gemini:gemini-2.5-flash")
    assert isinstance(google, GoogleLLM) and google.spec == "google:gemini-2.5-flash"
    assert KEY not in repr(google) and KEY not in repr(resolve_cloud("anthropic:claude-sonnet-4-6"))
    assert isinstance(registry.make_vision("anthropic:claude-sonnet-4-6"), AnthropicVision)
    ollama = registry.make_llm("ollama:llama3.2")
    assert isinstance(ollama, OpenAILLM) and ollama.spec == "ollama:llama3.2"
    assert (ollama.base_url, ollama.local) == ("http://localhost:11434/v1", True)
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://gpu-box:11434/v1")
    remote = registry.make_llm("ollama:llama3.2")
    assert (remote.base_url, remote.local) == ("http://gpu-box:11434/v1", False)  # type: ignore[attr-defined]
    with pytest.raises(ProviderError, match="names no model"):
        registry.make_llm("anthropic")


def test_parse_answer_renumbers_and_keeps_non_citations() -> None:
    passages = [Passage(f"kb:doc#{i}", f"text {i}") for i in range(1, 5)]
    answer = parse_answer("In [2024] it was 3 [3, 1]; later [2-3] and [9].", passages)
    assert answer.text == "In [2024] it was 3 [1][2]; later [3][1] and [9]."
    assert [c.source for c in answer.citations] == ["kb:doc#3", "kb:doc#1", "kb:doc#2"]
    assert parse_answer("Not in the context.", passages).citations == ()


def test_a_stage_adapter_without_its_hook_cannot_be_made() -> None:
    from assistant.providers.cloud import CloudClient
    from assistant.providers.stt.base import Transcriber
    from assistant.providers.vision.base import VisionProvider

    for base, hook in (
        (LLM, "_answer_impl"),
        (VisionProvider, "_analyze_impl"),
        (Transcriber, "_transcribe_impl"),
    ):
        no_hook = type("NoHook", (base,), {"provider": "fake"})
        with pytest.raises(TypeError, match=hook):
            no_hook(model="m")

    class NoClient(CloudClient, LLM):
        def _answer_impl(self, request: AnswerRequest) -> Any:
            raise AssertionError

    with pytest.raises(TypeError, match="_make_client"):
        NoClient(CloudOptions(model="m", api_key=KEY))  # type: ignore[abstract]


def test_every_registry_row_builds_its_provider(no_keys: Path) -> None:
    from assistant.core.config import SttConfig
    from assistant.providers.catalog import vendors
    from assistant.providers.llm.local import LocalExtractiveLLM
    from assistant.providers.stt.base import Transcriber
    from assistant.providers.stt.recorded import RecordedTranscriber
    from assistant.providers.stt.whisper import WhisperTranscriber
    from assistant.providers.vision.base import VisionProvider
    from assistant.providers.vision.ocr import OcrVision

    bases = {"llm": LLM, "vision": VisionProvider, "stt": Transcriber}
    for vendor in vendors():
        for stage, path in vendor.adapters.items():
            cls = registry._load(path)
            assert issubclass(cls, bases[stage]), path
            assert cls.provider == vendor.name, path
    assert isinstance(registry.make_llm("local:extractive-1"), LocalExtractiveLLM)
    assert isinstance(registry.make_vision("ocr:low"), OcrVision)
    assert isinstance(registry.make_stt("whisper:tiny.en", SttConfig()), WhisperTranscriber)
    assert isinstance(registry.make_stt("recorded:", SttConfig(), ()), RecordedTranscriber)
    with pytest.raises(ConfigError, match="unknown LLM provider 'nope'"):
        registry.make_llm("nope:x")
