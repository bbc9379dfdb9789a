"""Reading a shared screen: the ``VisionProvider`` base (cached per frame), offline OCR, cloud vision."""

from assistant.providers.vision.base import VisionProvider

__all__ = ["VisionProvider"]
