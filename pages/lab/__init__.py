"""The Routing lab's tabs, one module each, in the order the page shows them: the page loops over
:data:`TABS`. Adding a tab = a module here with ``TITLE`` and ``render(lab)``, and one entry in
the list (tests/test_pages_registry.py checks that every module here is a tab or shared)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pages.lab import ab, benchmark, live, sweep
from pages.lab.common import Lab


@dataclass(frozen=True, slots=True)
class Tab:
    title: str
    render: Callable[[Lab], None]  # draws the tab; called only while the tab is open


TABS: tuple[Tab, ...] = tuple(
    Tab(module.TITLE, module.render) for module in (sweep, ab, live, benchmark)
)
