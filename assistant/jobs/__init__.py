"""Background jobs: a job spec straight to a Config (spec), the process runner (runner), the
replay's progress file written and read (progress).

May import: assistant.core; nothing above it (the replays run as ``python -m assistant replay``)."""
