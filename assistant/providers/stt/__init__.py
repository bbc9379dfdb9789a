"""Speech to text: the ``Transcriber`` base (voice-activity gate), whisper, recorded; Deepgram in ``providers/vendors/deepgram/``."""

from assistant.providers.stt.base import Segment, Transcriber, TranscriptCall

__all__ = ["Segment", "Transcriber", "TranscriptCall"]
