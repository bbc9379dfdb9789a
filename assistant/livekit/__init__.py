"""LiveKit: room admin and tokens, the live agent and its worker, the publisher, and ``RoutedLLM``
(``routed``: an ``llm.LLM`` that routes a LiveKit Agents app's turns; ``policy``: its decision;
``decisions``: its ledger rows).

May import: assistant.core, pipeline, sessions, ledger, pricing, routing, telemetry (names)."""
