"""Benchmarks that anyone can rerun: each reports ratios against a baseline measured in the same run.

The harness (Figure, timing, the report) imports none of the sections; ``benchmarks.sections`` is
the one list of them. May import: every layer (they measure it); nothing imports them but cli."""
