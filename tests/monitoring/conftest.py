"""A real uvicorn server in the test's event loop, for the WebSocket metrics: the events
tests' fixture, not a copy of it."""

from tests.events.conftest import live_url

__all__ = ["live_url"]
