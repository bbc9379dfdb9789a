"""``python -m assistant.agent connect|dev|start``: the live agent's command (it lives in assistant.livekit.command)."""

from __future__ import annotations

if __name__ == "__main__":
    from assistant.livekit.command import main

    raise SystemExit(main())
