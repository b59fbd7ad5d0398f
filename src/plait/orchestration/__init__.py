"""Runs: their state machine, creation, the scheduler that advances them, and cron."""
