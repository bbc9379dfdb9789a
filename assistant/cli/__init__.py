"""Command line: a registry of commands (python -m assistant ...); each group registers its own.

May import: anything; no command module imports another."""
