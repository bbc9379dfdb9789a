"""What every cloud adapter shares: vendor options and a lazily made SDK client.

Mixed into a stage base (``LLM`` or ``VisionProvider``, which own retries, timing and usage): the
adapter only says how to make its SDK client (``_make_client``) and how to map one request.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from assistant.providers.base import RetryPolicy


class CloudClient:
    base_url: str | None
    timeout_s: float
    max_output_tokens: int
    _api_key: str
    _client: Any

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_output_tokens: int = 300,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(model=model, policy=policy, sleep=sleep)  # type: ignore[call-arg]
        self._cloud_options(
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            max_output_tokens=max_output_tokens,
        )

    def _cloud_options(
        self, *, api_key: str, base_url: str | None, timeout_s: float, max_output_tokens: int
    ) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_output_tokens = max_output_tokens
        self._api_key = api_key
        self._client = None

    @abstractmethod
    def _make_client(self) -> Any:
        """A new SDK client for this vendor, with its own retries off."""

    def _sdk_client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def configure(self, *, policy: RetryPolicy, timeout_s: float) -> None:
        super().configure(policy=policy, timeout_s=timeout_s)  # type: ignore[misc]
        self.timeout_s = timeout_s
        self.close()  # a client made with the old timeout is made again on the next call

    def warm_up(self) -> None:
        self._sdk_client()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def __repr__(self) -> str:  # never the key
        model = getattr(self, "model", "?")
        return f"{type(self).__name__}(model={model!r}, base_url={self.base_url!r})"
