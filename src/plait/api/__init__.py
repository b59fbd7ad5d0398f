"""The HTTP API: one router module per resource, mounted by `plait.api.app.create_app`."""
