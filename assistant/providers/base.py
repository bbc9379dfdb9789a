"""What every provider shares: the base class that owns retries, timing and usage for one hook.

``Provider`` is an abstract base: each stage base (``Transcriber``, ``VisionProvider``, ``LLM``)
declares its one hook abstract, so an adapter that forgets it cannot be made. An adapter (local OCR,
whisper, a vendor SDK) implements that single private hook; the public method of its stage base
calls it through ``Provider._invoke``, which retries retryable errors with backoff
(honouring Retry-After), measures wall time, and returns a ``CallResult`` with the usage that
``pricing`` turns into dollars. Unexpected exceptions from an adapter become ``ProviderError`` so a
request records an error instead of ending the run. With a call cache attached (``use_cache``), the
stage base passes a content key and ``_invoke`` looks it up first (``assistant.providers.cache``).
"""

from __future__ import annotations

import json
import time
from abc import ABC
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from assistant.core.errors import ProviderError, ProviderStatusError
from assistant.core.events import Usage
from assistant.providers.cache import CacheEntry, CallCache, code_fingerprint, content_key

T = TypeVar("T")


def cpu_clock(scope: str) -> float:
    """CPU seconds so far: of the calling thread (``"thread"``), or of the whole process
    (``"process"``, for native libraries that compute on their own worker threads while the
    calling thread waits). Unlike wall time, neither grows while other programs hold the CPU."""
    return time.thread_time() if scope == "thread" else time.process_time()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay_s(self, attempt: int, error: ProviderError) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): the exponential
        backoff, or the server's Retry-After when that is longer. None when the server asks for
        a longer wait than ``max_delay_s``: retrying sooner would ignore it, so the call fails
        now (and the other tier can answer)."""
        backoff = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        after = error.retry_after_s if isinstance(error, ProviderStatusError) else None
        if after is None:
            return backoff
        if after > self.max_delay_s:
            return None
        return max(after, backoff)


@dataclass(frozen=True, slots=True)
class HookOutput(Generic[T]):
    """What an adapter's hook returns: the value, its usage, and the model that really answered."""

    value: T
    usage: Usage
    model_resolved: str | None = None
    ttft_ms: float | None = None


@dataclass(frozen=True, slots=True)
class CallResult(Generic[T]):
    value: T
    usage: Usage
    provider: str
    model_requested: str
    model_resolved: str
    latency_ms: float
    ttft_ms: float | None
    attempts: int
    local: bool = False  # ran on this machine: priced by compute seconds
    # from the call cache: no call made; ``latency_ms`` is the lookup's, ``usage`` the original's
    cached: bool = False
    original_latency_ms: float | None = None  # what the original call took (cached results)
    # a result made now that the cache keeps: its key and its value as the stage's JSON
    cache_key: str | None = None
    cache_json: str | None = None


@dataclass(frozen=True, slots=True)
class CallFailure:
    """A call that failed after its retries: kept so the ledger records it with its cost (zero)."""

    error: ProviderError
    provider: str
    model_requested: str
    latency_ms: float
    attempts: int


class Provider(ABC):  # noqa: B024 - the stage bases declare the abstract hook
    """Base of every stage's provider. ``provider`` and ``model`` name it in the ledger; the
    stage base that subclasses it declares the hook (``@abstractmethod``) its adapters write."""

    provider: str = "provider"
    #: True when the provider runs on this machine (priced by compute seconds, not by usage).
    local: bool = True
    #: Which CPU time a local call is priced by (see ``cpu_clock``): the calling thread's, or the
    #: process's for adapters whose library computes on worker threads of its own.
    cpu_scope: str = "thread"
    #: False for providers whose result is not a function of the call's content (the recorded
    #: transcript, which depends on what it has already handed out): never cached.
    cacheable: bool = True

    def __init__(
        self,
        *,
        model: str,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self.call_cache: CallCache | None = None

    def configure(self, *, policy: RetryPolicy, timeout_s: float) -> None:
        """Apply a run's call options (``[calls]`` in the config) before the first call.
        ``timeout_s`` bounds each attempt of a remote call; local providers ignore it."""
        self.policy = policy

    def warm_up(self) -> None:  # noqa: B027 - optional: most providers need no warm-up
        """Load models or open clients before the first call, so it is not timed as a request."""

    def close(self) -> None:  # noqa: B027 - optional: most providers hold nothing open
        """Release clients and connections (called when a run ends)."""

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.model}"

    # -- the call cache ----------------------------------------------------------------------
    def use_cache(self, cache: CallCache | None) -> None:
        """Look calls up in ``cache`` before making them (None: make every call)."""
        self.call_cache = cache if self.cacheable else None

    def cache_options(self) -> dict[str, Any]:
        """Settings besides the model that change this provider's output (in the cache key)."""
        return {}

    def cache_scope(self) -> str:
        """What a cached result of this provider is valid for: its spec, options and code."""
        return json.dumps(
            [self.spec, self.cache_options(), code_fingerprint(type(self))],
            sort_keys=True,
            default=str,
        )

    def cache_key(self, stage: str, parts: Iterable[bytes | str]) -> str | None:
        """The content key of a call (None when no cache is attached: nothing is hashed)."""
        if self.call_cache is None:
            return None
        return content_key(self.cache_scope(), stage, parts)

    def _encode_value(self, value: Any) -> str:
        """A result's value as JSON for the cache (the stage bases override it)."""
        return json.dumps(value)

    def _decode_value(self, text: str) -> Any:
        return json.loads(text)

    def _lookup(self, key: str) -> CallResult[Any] | None:
        cache = self.call_cache
        if cache is None:
            return None
        started = time.perf_counter()
        entry = cache.get(key)
        if entry is None:
            return None
        try:
            value = self._decode_value(entry.value_json)
        except (ValueError, KeyError, TypeError, IndexError):  # written by another version
            return None
        return CallResult(
            value=value,
            usage=entry.usage,
            provider=self.provider,
            model_requested=self.model,
            model_resolved=entry.model_resolved,
            latency_ms=(time.perf_counter() - started) * 1000,
            ttft_ms=None,
            attempts=0,
            local=self.local,
            cached=True,
            original_latency_ms=entry.latency_ms,
        )

    def _store(self, key: str, result: CallResult[T]) -> CallResult[T]:
        cache = self.call_cache
        if cache is None:
            return result
        value_json = self._encode_value(result.value)
        cache.put(
            key, CacheEntry(value_json, result.usage, result.latency_ms, result.model_resolved)
        )
        return replace(result, cache_key=key, cache_json=value_json)

    def _invoke(
        self, hook: Callable[[], HookOutput[T]], *, key: str | None = None
    ) -> CallResult[T]:
        """Run ``hook`` with retries; raise ``ProviderCallError`` carrying the failure. With a
        ``key`` (``cache_key``), a result the call cache holds is returned instead of calling,
        and a new result is kept in it."""
        if key is not None:
            hit = self._lookup(key)
            if hit is not None:
                return hit
        result = self._attempts(hook)
        return result if key is None else self._store(key, result)

    def _attempts(self, hook: Callable[[], HookOutput[T]]) -> CallResult[T]:
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            attempt_cpu_s = cpu_clock(self.cpu_scope)
            try:
                out = hook()
            except ProviderError as exc:
                error = exc
            except Exception as exc:  # an adapter bug or an SDK surprise: recorded, not fatal
                error = ProviderError(
                    f"{type(exc).__name__}: {exc}", provider=self.provider, model=self.model
                )
                error.__cause__ = exc
            else:
                latency_ms = (time.perf_counter() - started) * 1000  # what the caller waited, retries included
                usage = out.usage
                if self.local and usage.compute_s == 0.0:  # the work itself, not the backoff
                    usage = Usage(
                        usage.input_tokens,
                        usage.output_tokens,
                        usage.image_count,
                        usage.audio_s,
                        max(0.0, cpu_clock(self.cpu_scope) - attempt_cpu_s),
                    )
                return CallResult(
                    value=out.value,
                    usage=usage,
                    provider=self.provider,
                    model_requested=self.model,
                    model_resolved=out.model_resolved or self.model,
                    latency_ms=latency_ms,
                    ttft_ms=out.ttft_ms,
                    attempts=attempt,
                    local=self.local,
                )
            delay_s = self.policy.delay_s(attempt, error)
            if error.retryable and delay_s is None and attempt < self.policy.max_attempts:
                error.args = (
                    f"{error} (not retried: the server asked to wait longer than "
                    f"{self.policy.max_delay_s:g} s)",
                )
            if not error.retryable or attempt >= self.policy.max_attempts or delay_s is None:
                raise ProviderCallError(
                    CallFailure(
                        error=error,
                        provider=self.provider,
                        model_requested=self.model,
                        latency_ms=(time.perf_counter() - started) * 1000,
                        attempts=attempt,
                    )
                )
            self._sleep(delay_s)


class ProviderCallError(Exception):
    """Raised by ``Provider._invoke`` when a call failed for good; carries the ``CallFailure``."""

    def __init__(self, failure: CallFailure) -> None:
        super().__init__(str(failure.error))
        self.failure = failure


def split_spec(spec: str) -> tuple[str, str]:
    provider, _, model = spec.partition(":")
    return provider, model
