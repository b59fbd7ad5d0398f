"""Workflow definitions: the document, its validation, schedules, versions and storage."""
