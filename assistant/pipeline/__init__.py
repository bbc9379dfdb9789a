"""Pipeline: typed stages built from config, tier pairs that fail over, frame sampling, the
orchestration of one request, and the recorder that prices its results into ledger records.

May import: assistant.core, providers, pricing, routing, rag, ledger.records."""
