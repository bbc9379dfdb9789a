"""Analysis: threshold sweeps (sweep), A/B with bootstrap intervals (ab), off-policy estimates
(offpolicy), the routing evaluation on external suites (routing_eval), the LLM judge (judge). No
Streamlit, no SQL: rows come from assistant.ledger.queries.

May import: assistant.core, providers, pricing, routing, ledger, sessions.datasets (the judge's key facts)."""
