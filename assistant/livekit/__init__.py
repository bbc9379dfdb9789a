"""LiveKit: room admin and tokens, the live agent and its worker, the publisher.

May import: assistant.core, pipeline, sessions, ledger."""
