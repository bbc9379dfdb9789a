"""``python -m assistant.agent connect|dev|start``: the live agent's command (it lives in assistant.livekit.agent)."""

from __future__ import annotations

if __name__ == "__main__":
    from assistant.livekit.agent import main

    raise SystemExit(main())
