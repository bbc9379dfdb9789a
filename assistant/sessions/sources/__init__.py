"""Sources yield time-ordered events (video frames, audio chunks, questions); recorded and live alike."""
