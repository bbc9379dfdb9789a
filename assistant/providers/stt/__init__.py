"""Speech to text: the ``Transcriber`` base (voice-activity gate), whisper, recorded, Deepgram."""

from assistant.providers.stt.base import Segment, Transcriber, TranscriptCall

__all__ = ["Segment", "Transcriber", "TranscriptCall"]
