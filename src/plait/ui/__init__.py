"""The web UI: static ES modules served at `/`, talking to the public REST API and /ws only."""
