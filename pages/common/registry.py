"""The workbench's pages, in the order of the navigation: app.py loops over :data:`PAGES`.

Adding a page = its file directly in ``pages/`` and one entry here (tests/test_pages_registry.py
checks that every page file is listed and opens).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    file: str  # relative to app.py
    title: str
    icon: str  # a Material icon (":material/name:") or an emoji
    default: bool = False  # the page the app opens on


PAGES: tuple[Page, ...] = (
    Page(file="pages/runs.py", title="Runs", icon=":material/video_library:", default=True),
    Page(file="pages/routing_lab.py", title="Routing lab", icon=":material/science:"),
    Page(file="pages/costs.py", title="Costs", icon=":material/payments:"),
    Page(file="pages/label.py", title="Label", icon=":material/label:"),
    Page(file="pages/replay.py", title="Replay", icon=":material/play_circle:"),
    Page(file="pages/live.py", title="Live room", icon=":material/sensors:"),
    Page(file="pages/rooms.py", title="Rooms", icon=":material/meeting_room:"),
    Page(file="pages/fleet.py", title="Fleet", icon=":material/hub:"),
)
