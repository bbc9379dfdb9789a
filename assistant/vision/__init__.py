"""Screen-analysis providers behind one base (``VisionProvider``)."""

from assistant.vision.base import VisionProvider

__all__ = ["VisionProvider"]
