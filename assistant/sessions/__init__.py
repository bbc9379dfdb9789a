"""Sessions: one run driver (start, checkpoint, finish, resume) for replays and live rooms; sources, datasets, media.

May import: assistant.core, providers, pricing, routing, rag, pipeline, ledger.
"""
