"""Perception evaluations: what the pipeline sees and hears, scored against a recording's ground
truth (``eval-sampling``: frame-sampling policies; ``eval-stt``: transcription providers).

Quality figures, not speed figures: the speed benchmarks are in ``assistant.benchmarks``, the
routing evaluation in ``assistant.analysis.routing_eval``.

May import: core, providers, pricing, pipeline, sessions."""
