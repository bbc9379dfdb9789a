"""Attribute names: the OpenTelemetry GenAI semantic conventions, LiveKit Agents' ``lk.*`` names,
and the workbench's own ``workbench.*`` names, which carry every ledger column so that a run
exported and received again is the same run.

GenAI conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/): an inference span is named
``{gen_ai.operation.name} {gen_ai.request.model}``; an agent's turn is ``invoke_agent``.
"""

from __future__ import annotations

# -- OpenTelemetry GenAI semantic conventions --------------------------------------------------
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # the older name of gen_ai.provider.name, still read by tools
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_CONVERSATION = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_TTFT_S = "gen_ai.response.time_to_first_chunk"  # seconds (LiveKit Agents 1.8 emits it)
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"  # JSON, LiveKit Agents 1.8 sets them
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_COST_USD = "gen_ai.usage.cost"  # not in the spec yet; Langfuse reads it as the total cost
ERROR_TYPE = "error.type"
SESSION_ID = "session.id"  # Langfuse and Phoenix group traces by it
USER_ID = "user.id"  # Langfuse's user, Phoenix's user.id: the participant who asked

# -- the workbench's own ------------------------------------------------------------------------
SERVICE_NAME = "meeting-assistant-workbench"
AGENT_NAME = "meeting-assistant"
RUN_PREFIX = "workbench.run."  # resource attributes: every RunRecord field
REQUEST_PREFIX = "workbench.request."  # request spans: every RequestRecord field
CALL_PREFIX = "workbench.call."  # call spans: every CallRecord field
SPAN_KIND = "workbench.span"  # "request" or "call"
TIER = "workbench.tier"  # an outside agent may set it (span or resource) to say its tier

# -- RoutedLLM (assistant/livekit/routed.py): set on each tier's ``llm_request`` span ------------
ROUTE_PREFIX = "workbench.route."
ROUTE_REQUEST_ID = ROUTE_PREFIX + "request_id"  # one per turn: its attempts share it
ROUTE_ROLE = ROUTE_PREFIX + "role"  # "answer" (the turn's last attempt) or "attempt" (failed)
ROUTE_TIER = ROUTE_PREFIX + "tier"  # the tier the decision chose
ROUTE_ATTEMPT_TIER = ROUTE_PREFIX + "attempt_tier"  # the tier this span's call went to
ROUTE_SCORER = ROUTE_PREFIX + "scorer"
ROUTE_SCORE = ROUTE_PREFIX + "score"
ROUTE_ROUTER = ROUTE_PREFIX + "router"
ROUTE_THRESHOLD = ROUTE_PREFIX + "threshold"
ROUTE_PROPENSITY = ROUTE_PREFIX + "propensity"
ROUTE_EXPLORED = ROUTE_PREFIX + "explored"
ROUTE_REASON = ROUTE_PREFIX + "reason"  # threshold / explored / budget / latency / failover
ROUTE_VISION = ROUTE_PREFIX + "vision"  # the vision decision made it (an image in the turn)
ROUTE_MODEL_REQUESTED = ROUTE_PREFIX + "model_requested"  # the chosen tier's model
ROUTE_PRICING_PROVIDER = ROUTE_PREFIX + "pricing_provider"  # the Pricer's provider id
ROUTE_ROUTING_LATENCY_MS = ROUTE_PREFIX + "routing_latency_ms"
ROUTE_TENANT = "workbench.tenant"
ROUTE_SPAN = "llm_routed_request"  # RoutedLLM's own span around its tiers' calls: structure

# -- LiveKit Agents (livekit/agents/telemetry/trace_types.py) ------------------------------------
LK_LLM_METRICS = "lk.llm_metrics"
LK_TTS_METRICS = "lk.tts_metrics"
LK_REALTIME_METRICS = "lk.realtime_model_metrics"
LK_RESPONSE_TEXT = "lk.response.text"
LK_USER_INPUT = "lk.user_input"
LK_USER_TRANSCRIPT = "lk.user_transcript"
LK_TTS_INPUT_TEXT = "lk.input_text"
LK_TTS_LABEL = "lk.tts.label"
LK_SPEECH_ID = "lk.speech_id"
LK_ROOM = "lk.room_name"
LK_JOB_ID = "lk.job_id"
LK_AGENT_NAME = "lk.agent_name"
LK_PARTICIPANT = "lk.participant_identity"
LK_RETRY_COUNT = "lk.retry_count"

LK_LLM_SPANS = frozenset({"llm_request"})
LK_TTS_SPANS = frozenset({"tts_request"})
LK_STT_SPANS = frozenset({"user_turn"})
LK_REALTIME_SPANS = frozenset({"realtime_metrics"})
LK_KNOWN_SPANS = frozenset(
    {
        "agent_session",
        "session_start",
        "job_entrypoint",
        "agent_turn",
        "agent_speaking",
        "user_speaking",
        "llm_node",
        "llm_request_run",
        "tts_node",
        "tts_request_run",
        "function_tool",
        "eou_detection",
        "drain_agent_activity",
        "on_enter",
        "on_exit",
        "start_agent_activity",
        "llm_fallback_adapter",
        ROUTE_SPAN,
    }
)
"""LiveKit Agents spans that carry no usage: read for nothing, counted as 'structure'."""

# STT and LLM provider names as the Pricer knows them (genai-prices' provider ids).
PROVIDER_ALIASES = {
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "google-genai": "google",
    "az.ai.openai": "azure",
    "azure.ai.openai": "azure",
    "aws.bedrock": "aws",
}

# The call's stage -> gen_ai.operation.name.
OPERATION_OF_STAGE = {
    "llm": "chat",
    "vision": "chat",
    "stt": "transcribe",
    "tts": "speech",
    "retrieval": "retrieval",
    "embedding": "embeddings",
}
