"""Deepgram speech-to-text: ``client`` (the lazy SDK import, a client that never retries, usage and error
mapping), ``stt``: pre-recorded and live transcription. Its key variables and adapter classes are listed in ``providers.catalog``."""
