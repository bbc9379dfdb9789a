"""The throwaway PostgreSQL server of the fleet benchmark, for the lake tests (see its module)."""

from assistant.benchmarks.pgserver import Server, missing_reason, running_server

__all__ = ["Server", "missing_reason", "running_server"]
