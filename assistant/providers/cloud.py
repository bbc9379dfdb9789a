"""What every cloud adapter shares: one frozen options value, a lazily made SDK client, the error
mapping around each request, and the checks at the end of a streamed answer.

``CloudClient`` is a ``Provider`` (retries, timing, usage) combined with a stage base (``LLM`` or
``VisionProvider``, which declare the hook) in each adapter. Each vendor's ``client`` module
(``providers/vendors/<vendor>/client.py``) subclasses it once with how to make its SDK client
(``_make_client``) and how its exceptions map to the workbench's (``_map_error``); an adapter then
only maps one request.
"""

from __future__ import annotations

import dataclasses
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from assistant.core.errors import ProviderError
from assistant.providers.base import Provider, RetryPolicy
from assistant.providers.errors import empty_answer_error, malformed


@dataclass(frozen=True, slots=True)
class CloudOptions:
    """How a cloud adapter reaches its model: one value for every vendor and stage, so adapters
    share one constructor (``Adapter(options, policy=..., sleep=...)``) and ``configure`` swaps
    the timeout with ``dataclasses.replace``."""

    model: str
    api_key: str = field(repr=False)
    base_url: str | None = None  # None: the vendor's own endpoint
    timeout_s: float = 30.0  # per attempt
    max_output_tokens: int | None = None  # None: the stage's default (answers 300, screens 800)
    provider: str | None = None  # the ledger's name when not the vendor's (a compatible server)
    local: bool = False  # a loopback server: priced by compute seconds
    image_format: str = "png"  # vision: how frames are sent ("png" or "jpeg")


class CloudClient(Provider):
    """A provider that calls a vendor's SDK: ``options`` hold the model, key and endpoint; the
    client is made on first use and made again after ``configure`` changes the timeout."""

    local = False
    default_max_output_tokens = 300

    def __init__(
        self,
        options: CloudOptions,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(model=options.model, policy=policy, sleep=sleep)
        self.options = options
        if options.provider is not None:
            self.provider = options.provider
        self.local = options.local
        self._client: Any = None

    @property
    def base_url(self) -> str | None:
        return self.options.base_url

    @property
    def timeout_s(self) -> float:
        return self.options.timeout_s

    @property
    def max_output_tokens(self) -> int:
        limit = self.options.max_output_tokens
        return self.default_max_output_tokens if limit is None else limit

    @property
    def _api_key(self) -> str:
        return self.options.api_key

    @abstractmethod
    def _make_client(self) -> Any:
        """A new SDK client for this vendor, with its own retries off."""

    @abstractmethod
    def _map_error(self, exc: BaseException, *, streamed: bool = False) -> ProviderError:
        """``exc`` (from the SDK, the transport or this adapter) as the workbench's error,
        scrubbed of the key; ``streamed`` when the answer stream had begun."""

    @contextmanager
    def _vendor_errors(self, stream: StreamedText | None = None) -> Iterator[None]:
        """Any exception inside the block leaves it as ``_map_error`` makes it."""
        try:
            yield
        except Exception as exc:
            raise self._map_error(exc, streamed=stream is not None and stream.streamed) from exc

    def _sdk_client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def configure(self, *, policy: RetryPolicy, timeout_s: float) -> None:
        super().configure(policy=policy, timeout_s=timeout_s)
        self.options = dataclasses.replace(self.options, timeout_s=timeout_s)
        self.close()  # a client made with the old timeout is made again on the next call

    def warm_up(self) -> None:
        self._sdk_client()

    def cache_options(self) -> dict[str, Any]:
        """What changes a cloud answer besides the model: the endpoint, the output limit and
        the image format (never the key, nor the timeout)."""
        return {
            **super().cache_options(),
            "base_url": self.options.base_url,
            "max_output_tokens": self.max_output_tokens,
            "image_format": self.options.image_format,
        }

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"


@dataclass(slots=True)
class StreamedText:
    """A streamed answer as it arrives: its text pieces, the wait for the first non-empty one
    (``ttft_ms``), whether any event came at all, and the model that answered."""

    started: float = field(default_factory=time.perf_counter)
    parts: list[str] = field(default_factory=list)
    ttft_ms: float | None = None
    streamed: bool = False
    resolved: Any = None

    def event(self) -> None:
        self.streamed = True

    def add(self, piece: str) -> None:
        if piece and self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000
        self.parts.append(piece)

    @property
    def model_resolved(self) -> str | None:
        return self.resolved if isinstance(self.resolved, str) else None

    def text(
        self,
        *,
        vendor: str,
        model: str,
        cut_before: str | None,
        finish: str | None,
    ) -> str:
        """The whole answer; an error when no event came, when the stream ended before
        ``cut_before`` (the end marker it never sent), or when the answer is empty."""
        who = {"provider": vendor, "model": model}
        if not self.streamed:
            raise malformed(vendor, "the body carried no stream events", **who)
        if cut_before is not None:
            raise ProviderError(
                f"{vendor}: the answer stream ended before {cut_before} (cut mid-way)", **who
            )
        text = "".join(self.parts).strip()
        if not text:
            raise empty_answer_error(vendor, finish, **who)
        return text
