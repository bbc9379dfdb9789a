"""Background jobs: a job spec straight to a Config, the process runner, the progress format.

May import: assistant.core, sessions (datasets)."""
