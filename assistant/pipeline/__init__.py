"""Pipeline: typed stages built from config, frame sampling, and the orchestration of one request.

May import: assistant.core, providers, pricing, routing, rag, ledger.records."""
