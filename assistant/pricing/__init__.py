"""Pricing: the only place that turns usage into dollars (genai-prices, overrides, compute seconds).

May import: assistant.core."""
