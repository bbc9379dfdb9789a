"""Screen-analysis providers behind one base (``VisionProvider``)."""

from assistant.providers.vision.base import VisionProvider

__all__ = ["VisionProvider"]
