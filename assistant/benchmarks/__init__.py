"""Benchmarks that anyone can rerun: each reports ratios against a baseline measured in the same run."""
