"""Transcription providers behind one base (``Transcriber``)."""

from assistant.providers.stt.base import Segment, Transcriber, TranscriptCall

__all__ = ["Segment", "Transcriber", "TranscriptCall"]
