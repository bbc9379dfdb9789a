"""Sources yield time-ordered events (video frames, audio chunks, questions); recorded and live alike."""

from assistant.sources.base import Source
from assistant.sources.paced import PacedSource
from assistant.sources.recorded import RecordedSource

__all__ = ["PacedSource", "RecordedSource", "Source"]
