"""Providers: one base with retries and timing, a registry from spec to class, stage bases and adapters.

May import: assistant.core."""
