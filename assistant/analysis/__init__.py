"""Analysis: threshold sweeps, A/B with bootstrap intervals, off-policy estimates, external benchmarks, the judge.

May import: assistant.core, providers, pricing, routing, ledger."""
