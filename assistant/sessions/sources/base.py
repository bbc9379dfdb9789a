"""The source contract: an iterator of events in media-time order."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator

from assistant.core.events import Event


class Source(ABC):
    kind: str = "source"

    @property
    @abstractmethod
    def duration_s(self) -> float | None:
        """Length of the media in seconds, when known in advance."""

    @abstractmethod
    def events(self) -> Generator[Event, None, None]:
        """Video frames, audio chunks and questions, ordered by the time they become available."""
