"""OpenTelemetry in and out: the ledger's runs as OTLP traces with the GenAI semantic conventions
(``export``), and an OTLP/HTTP receiver that turns spans (the workbench's own, or a LiveKit Agents
app's ``llm_request`` / ``tts_request`` / ``user_turn`` spans) into runs, requests and calls
(``receiver``, ``mapping``). Names of the attributes live in ``conventions``."""
