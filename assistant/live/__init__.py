"""The live side: one ``LiveSession`` per LiveKit room, fed by the agent (``assistant.agent``)."""

from assistant.live.session import (
    LiveAnswer,
    LiveSession,
    LiveStats,
    live_stages,
    session_dataset,
    tenant_from_room,
)
from assistant.live.wake import WakePhrases, needs_screen

__all__ = [
    "LiveAnswer",
    "LiveSession",
    "LiveStats",
    "WakePhrases",
    "live_stages",
    "needs_screen",
    "session_dataset",
    "tenant_from_room",
]
