"""Core: events, configuration and default paths, errors, limits, tenancy rules, text and quality.

May import: the standard library and numpy only; nothing else in assistant/."""
