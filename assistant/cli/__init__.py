"""Command line: ``python -m assistant ...``, a registry (cli.registry) of command groups, one
module each (replay, runs, eval_perception, bench, eval_routing, kb, judge, rooms, publish).

May import: anything below it; a command module never imports another (shared terminal helpers
are in cli.terminal)."""
