"""A live uvicorn server (`live_url`), as the event tests have it, for tests that follow
a run over the WebSocket."""

from tests.events.conftest import live_url

__all__ = ["live_url"]
