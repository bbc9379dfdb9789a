"""Reading a shared screen: the ``VisionProvider`` base (cached per frame), offline OCR, what cloud vision adapters share (``cloud``; each vendor's in ``providers/vendors/<vendor>/vision.py``)."""

from assistant.providers.vision.base import VisionProvider

__all__ = ["VisionProvider"]
